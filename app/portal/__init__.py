"""Public pages: the item guide (办事指南) per place."""
