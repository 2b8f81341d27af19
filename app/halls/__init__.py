"""Windows (窗口), staff and their roles at places."""
