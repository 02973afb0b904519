"""Names of the languages of the parallel corpora (and of the playground's bundled sentences),
by the code their files are named with.

>>> LANGUAGE_NAMES["ko"], LANGUAGE_NAMES["code"]
('Korean', 'Python code')
"""

LANGUAGE_NAMES = {
    "am": "Amharic", "ar": "Arabic", "bn": "Bengali", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "km": "Khmer",
    "ko": "Korean", "my": "Burmese", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "ru": "Russian", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "vi": "Vietnamese", "yue": "Cantonese", "zh": "Chinese (Simplified)",
    "zh-Hant": "Chinese (Traditional)", "code": "Python code",
}  # fmt: skip
