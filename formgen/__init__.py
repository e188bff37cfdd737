"""formgen: questionnaire definitions → printable PDF sheets with signed QR ids and registration marks.

Read left to right:

- ``definition.load_definition(path_or_text)`` → ``Definition`` (or DefinitionError "FILE:LINE: …")
- ``compose.compose(definition, settings=…)`` → Layout + drawing plan (placement, page flow)
- ``render.build_form(definition)`` → ``BuiltForm`` (``.layout``, ``.blank_pdf``)
- ``render.stamp_sheets(built, serials, secret, out)`` → one PDF of numbered copies
- ``layout`` (the contract with the scanner) and ``identity`` (QR payload, MAC) are leaf modules.

Formats: docs/questionnaire-format.md and docs/layout-format.md.
"""
