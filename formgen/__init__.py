"""formgen: questionnaire definitions → printable PDF sheets with signed QR ids and registration marks."""
