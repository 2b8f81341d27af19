"""The tenant tree: division list, onboarded places, tenant files, onboarding."""
