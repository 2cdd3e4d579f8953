"""A synthetic city (合成都市): residents, households, incomes and valid 個人番号, deterministic by seed.

It stands in for the city's SOURCE systems outside kiban (住民記録・税務・生活保護): the ``synth`` schema
holds their data without any 個人番号, and the import files (docs/layouts/synth-source-files.md)
carry it to the identity hub. Entry points: ``kiban.synth.load.load_city`` and
``kiban.synth.load.summary``. This package file stays import-light on purpose: worker processes
import ``kiban.synth.generate`` and need neither SQLAlchemy nor psycopg.

Modules: ``places`` (基盤市, 町名, 方書), ``names`` (氏名), ``population`` (人口ピラミッド),
``households`` (世帯構成), ``earnings`` (収入の分布), ``income`` (所得・住民税の規則), ``city`` (諸元,
番号), ``generate`` (chunk generation), ``files`` (取込ファイル), ``load`` (COPY loader).
"""
