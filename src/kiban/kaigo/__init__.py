"""介護保険 (long-term care insurance): ``eligibility`` (資格管理) first; 賦課, 認定, 給付 follow."""
