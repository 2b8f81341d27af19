"""The Jinan demo: division list, tenant files and demo logins."""
