"""介護保険 賦課 (第1号保険料): the pure stage rules and the counter's 試算 first; 本算定, notices follow."""
