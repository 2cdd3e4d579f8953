"""synth: the synthetic city's source systems (合成都市 — 住民記録・税務・生活保護の模擬).

Revision ID: 0002_synth
Revises: 0001_foundation

The ``synth`` schema stands in for systems OUTSIDE kiban; later issues import its files into the
identity hub. It deliberately has no 個人番号 column: the number appears only in the registry file
(jumin.csv), as in a real 住基 linkage file, and kiban stores it only in its encrypted vault.
Runs on PostgreSQL 15 and 18 (no PG16+ syntax).
"""

from alembic import op

revision = "0002_synth"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# Formats are checked as length + '^[0-9]+$': a bounded repetition ({10}) costs the regex engine about
# three times as much, and every row of a million-resident COPY pays it.
_DIGITS10 = "'^[0-9]+$' AND length({0}) = 10"
_KANA = "'^[ァ-ヶー]+$'"  # full-width katakana and 長音符 (ァ U+30A1 … ヶ U+30F6 includes ヴ)


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS synth")
    op.execute(
        "COMMENT ON SCHEMA synth IS '合成都市: kiban の外にある住民記録・税務・生活保護システムの模擬データ（個人番号は保持しない）'"
    )

    # One row: the city currently generated (a new generation replaces everything).
    op.execute(
        """
        CREATE TABLE synth.city (
            city_code        text        PRIMARY KEY CHECK (city_code ~ '^[0-9]{6}$'),
            name             text        NOT NULL,
            seed             bigint      NOT NULL,
            residents        integer     NOT NULL CHECK (residents >= 1),
            non_residents    integer     NOT NULL CHECK (non_residents >= 0),
            households       integer     NOT NULL CHECK (households >= 1),
            aged_65_plus     integer     NOT NULL CHECK (aged_65_plus >= 0),
            aged_75_plus     integer     NOT NULL CHECK (aged_75_plus >= 0),
            under_15         integer     NOT NULL CHECK (under_15 >= 0),
            seiho_households integer     NOT NULL CHECK (seiho_households >= 0),
            seiho_persons    integer     NOT NULL CHECK (seiho_persons >= 0),
            income_rows      integer     NOT NULL CHECK (income_rows >= 0),
            fiscal_years     integer[]   NOT NULL,
            as_of            date        NOT NULL,
            generated_at     timestamptz NOT NULL DEFAULT now(),
            load_seconds     numeric(10, 3),
            files_dir        text
        )
        """
    )
    op.execute(
        """
        CREATE TABLE synth.household (
            household_no   text     PRIMARY KEY CHECK (household_no ~ """
        + _DIGITS10.format("household_no")
        + """),
            household_type text     NOT NULL CHECK (household_type IN ('single', 'single_elderly', 'couple',
                                        'elderly_couple', 'family', 'single_parent', 'elderly_parent_child',
                                        'three_generation')),
            postal_code    text     NOT NULL CHECK (postal_code ~ '^[0-9]+-[0-9]+$' AND length(postal_code) = 8
                                        AND substr(postal_code, 4, 1) = '-'),
            address        text     NOT NULL CHECK (address <> ''),
            katagaki       text     CHECK (katagaki <> ''),
            district_code  text     NOT NULL CHECK (district_code ~ '^[0-9]+$' AND length(district_code) = 2),
            head_person_no text     NOT NULL
        )
        """
    )
    op.execute(
        """
        CREATE TABLE synth.resident (
            person_no          text     PRIMARY KEY CHECK (person_no ~ """
        + _DIGITS10.format("person_no")
        + """),
            household_no       text     REFERENCES synth.household,
            relationship       text     CHECK (relationship IN ('世帯主', '妻', '夫', '子', '父', '母', '子の妻',
                                            '子の夫', '孫')),
            family_name        text     NOT NULL CHECK (family_name <> ''),
            given_name         text     NOT NULL CHECK (given_name <> ''),
            family_name_kana   text     NOT NULL CHECK (family_name_kana ~ """
        + _KANA
        + """),
            given_name_kana    text     NOT NULL CHECK (given_name_kana ~ """
        + _KANA
        + """),
            sex                smallint NOT NULL CHECK (sex IN (1, 2)),
            birth_date         date     NOT NULL,
            resident_class     text     NOT NULL CHECK (resident_class IN ('住民', '住登外')),
            resident_since     date     NOT NULL CHECK (resident_since >= birth_date),
            nonresident_since  date     CHECK (nonresident_since >= resident_since),
            nonresident_reason text,
            postal_code        text     CHECK (postal_code ~ '^[0-9]+-[0-9]+$' AND length(postal_code) = 8
                                            AND substr(postal_code, 4, 1) = '-'),
            address            text,
            katagaki           text     CHECK (katagaki <> ''),
            CONSTRAINT resident_class_fields CHECK (
                CASE resident_class
                WHEN '住民' THEN household_no IS NOT NULL AND relationship IS NOT NULL
                    AND nonresident_since IS NULL AND nonresident_reason IS NULL
                    AND postal_code IS NULL AND address IS NULL AND katagaki IS NULL
                ELSE household_no IS NULL AND relationship IS NULL AND nonresident_since IS NOT NULL
                    AND nonresident_reason IS NOT NULL AND postal_code IS NOT NULL AND address IS NOT NULL
                END
            )
        )
        """
    )
    op.execute("CREATE INDEX resident_household_idx ON synth.resident (household_no)")
    op.execute(
        """
        ALTER TABLE synth.household ADD CONSTRAINT household_head_fk FOREIGN KEY (head_person_no)
            REFERENCES synth.resident DEFERRABLE INITIALLY DEFERRED
        """
    )
    op.execute(
        """
        CREATE TABLE synth.income (
            person_no               text     NOT NULL REFERENCES synth.resident,
            fiscal_year             integer  NOT NULL CHECK (fiscal_year BETWEEN 2021 AND 2100),
            salary_income           bigint   NOT NULL CHECK (salary_income >= 0),
            salary_deduction_result bigint   NOT NULL CHECK (salary_deduction_result >= 0),
            public_pension_income   bigint   NOT NULL CHECK (public_pension_income >= 0),
            pension_misc_income     bigint   NOT NULL CHECK (pension_misc_income >= 0),
            other_income            bigint   NOT NULL,
            total_income            bigint   NOT NULL,
            dependants              smallint NOT NULL CHECK (dependants >= 0),
            tax_status              text     NOT NULL CHECK (tax_status IN ('課税', '非課税')),
            nontaxable_reason       text     CHECK (nontaxable_reason IN ('生活扶助', '未成年者', '寡婦',
                                                 'ひとり親', '所得基準')),
            PRIMARY KEY (person_no, fiscal_year),
            CHECK (salary_deduction_result <= salary_income),
            CHECK (pension_misc_income <= public_pension_income),
            CHECK (total_income = salary_deduction_result + pension_misc_income + other_income),
            CHECK ((tax_status = '非課税') = (nontaxable_reason IS NOT NULL))
        )
        """
    )
    op.execute(
        """
        CREATE TABLE synth.welfare (
            person_no    text NOT NULL REFERENCES synth.resident,
            household_no text NOT NULL REFERENCES synth.household,
            start_date   date NOT NULL,
            end_date     date CHECK (end_date >= start_date),
            PRIMARY KEY (person_no, start_date)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE synth.old_age_welfare_pension (
            person_no  text NOT NULL PRIMARY KEY REFERENCES synth.resident,
            start_date date NOT NULL
        )
        """
    )
    _comments()


def _comments() -> None:
    comments = {
        "TABLE synth.city": "合成都市の諸元（生成1回につき1行。再生成で置き換える）",
        "COLUMN synth.city.city_code": "地方公共団体コード（6桁・検査数字付き。都道府県部分99は実在しない）",
        "COLUMN synth.city.seed": "乱数の種（同じ種・人数・基準日なら同じ都市）",
        "COLUMN synth.city.residents": "住民数（住民区分＝住民）",
        "COLUMN synth.city.non_residents": "住登外者数",
        "COLUMN synth.city.fiscal_years": "住民税課税情報を生成した年度",
        "COLUMN synth.city.as_of": "基準日（年齢・異動日の基準）",
        "COLUMN synth.city.files_dir": "取込ファイルを書き出したフォルダ",
        "TABLE synth.household": "世帯（住民記録システムの模擬）",
        "COLUMN synth.household.household_no": "世帯番号",
        "COLUMN synth.household.household_type": "世帯類型（single 単身, single_elderly 高齢単身, couple 夫婦, "
        "elderly_couple 高齢夫婦, family 夫婦と子, single_parent ひとり親と子, elderly_parent_child 高齢の親と子, "
        "three_generation 三世代）",
        "COLUMN synth.household.postal_code": "郵便番号",
        "COLUMN synth.household.address": "住所（市区町村以下: 町名・丁目・番地）",
        "COLUMN synth.household.katagaki": "方書（集合住宅名・部屋番号）",
        "COLUMN synth.household.district_code": "地区コード",
        "COLUMN synth.household.head_person_no": "世帯主の宛名番号",
        "TABLE synth.resident": "住民・住登外者（住民記録・宛名システムの模擬。個人番号は保持しない）",
        "COLUMN synth.resident.person_no": "宛名番号",
        "COLUMN synth.resident.household_no": "世帯番号（住登外者はNULL）",
        "COLUMN synth.resident.relationship": "続柄（世帯主との関係）",
        "COLUMN synth.resident.family_name": "氏（漢字）",
        "COLUMN synth.resident.given_name": "名（漢字）",
        "COLUMN synth.resident.family_name_kana": "氏（全角カタカナ）",
        "COLUMN synth.resident.given_name_kana": "名（全角カタカナ）",
        "COLUMN synth.resident.sex": "性別（1 男, 2 女）",
        "COLUMN synth.resident.birth_date": "生年月日",
        "COLUMN synth.resident.resident_class": "住民区分（住民 / 住登外）",
        "COLUMN synth.resident.resident_since": "住民となった日（出生または転入）",
        "COLUMN synth.resident.nonresident_since": "住登外となった日（転出・施設入所）",
        "COLUMN synth.resident.nonresident_reason": "住登外の事由（住所地特例（施設入所）/ 転出（賦課・収納継続））",
        "COLUMN synth.resident.postal_code": "住登外者の郵便番号（住民は世帯の郵便番号）",
        "COLUMN synth.resident.address": "住登外者の住所（都道府県から。住民は世帯の住所）",
        "COLUMN synth.resident.katagaki": "住登外者の方書（入所施設名など）",
        "TABLE synth.income": "住民税課税情報（税務システムの模擬。年度は前年所得に基づく賦課の年度）",
        "COLUMN synth.income.fiscal_year": "年度（住民税の賦課年度。所得は前年の暦年分）",
        "COLUMN synth.income.salary_income": "給与収入額",
        "COLUMN synth.income.salary_deduction_result": "給与所得（給与所得控除・所得金額調整控除後）",
        "COLUMN synth.income.public_pension_income": "公的年金等収入額（課税年金収入額）",
        "COLUMN synth.income.pension_misc_income": "公的年金等に係る雑所得",
        "COLUMN synth.income.other_income": "その他の所得（事業所得・不動産所得など）",
        "COLUMN synth.income.total_income": "合計所得金額",
        "COLUMN synth.income.dependants": "同一生計配偶者及び扶養親族の数（年少扶養親族を含む）",
        "COLUMN synth.income.tax_status": "住民税 課税区分（課税 / 非課税）",
        "COLUMN synth.income.nontaxable_reason": "非課税事由（生活扶助, 未成年者, 寡婦, ひとり親, 所得基準）",
        "TABLE synth.welfare": "生活保護の受給期間（生活保護システムの模擬）",
        "COLUMN synth.welfare.household_no": "保護を受けた世帯の世帯番号",
        "COLUMN synth.welfare.start_date": "保護開始日",
        "COLUMN synth.welfare.end_date": "保護廃止日（受給中はNULL）",
        "TABLE synth.old_age_welfare_pension": "老齢福祉年金受給者（明治44年4月1日以前生まれが対象のため、現在は生成しない）",
        "COLUMN synth.old_age_welfare_pension.start_date": "受給開始日",
    }
    for target, text in comments.items():
        op.execute(f"COMMENT ON {target} IS '{text}'")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS synth CASCADE")
