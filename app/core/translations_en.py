"""English for the UI's Chinese text. Keys are the Chinese source strings."""

EN: dict[str, str] = {
}
