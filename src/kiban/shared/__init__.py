"""Pure, I/O-free helpers shared by every package (共通部品): My Number, ages, wareki, money, 年度, kana."""
