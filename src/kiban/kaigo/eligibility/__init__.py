"""介護保険 資格管理 (被保険者資格): who is insured, in which category, from when to when."""
