"""Documents (帳票, PDF) issued to residents, and their templates."""
