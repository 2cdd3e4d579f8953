"""収納・滞納 (kiban.collection): receivables, payments and 消込, 延滞金, 督促, 時効, 給付制限 periods.

Premium-agnostic: 介護保険料 now, 国民健康保険料（税） and 後期高齢者医療保険料 later use the same
engine. Below the businesses (kiban.kaigo pushes its 期別 into it) and above the notices.
"""
