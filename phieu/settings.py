"""Every tunable knob of the system, declared once with its default and meaning.

Stages receive the section they need as a keyword argument; no stage hides literals of its own.
Each section is owned by one package; add fields there, with a description.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FormSettings(_Section):
    body_font_pt: float = Field(12.0, ge=12.0, description="Body text size of printed sheets (points).")
    large_print_font_pt: float = Field(15.0, ge=12.0, description="Body text size with --large-print.")
    box_mm: float = Field(5.5, ge=5.0, description="Side of a printed answer box (mm).")
    mark_mm: float = Field(6.0, description="Side / diameter of a registration mark (mm).")
    mark_inset_mm: float = Field(10.0, description="Distance from paper edge to a mark's centre (mm).")
    qr_mm: float = Field(18.0, description="Side of the printed QR code (mm), quiet zone included.")


class ScanSettings(_Section):
    render_dpi: int = Field(300, description="DPI used to render PDF pages that carry no embedded image.")
    min_dpi: int = Field(150, description="Pages below this resolution are refused as unreadable.")
    max_skew_deg: float = Field(12.0, description="Largest rotation accepted when finding marks.")
    jobs: int = Field(0, description="Worker processes; 0 means one per CPU core.")


class RecognitionSettings(_Section):
    canonical_dpi: int = Field(150, description="Resolution of the aligned page that recognition measures.")
    ring_mm: float = Field(1.5, description="Width of the band outside a box frame searched for circles and overflow.")
    empty_below: float = Field(0.06, description="Ink share of a box interior below which it is empty.")
    marked_above: float = Field(0.14, description="Ink share above which a box is marked (between: uncertain).")
    cancelled_above: float = Field(0.62, description="Ink share above which a box counts as filled solid (cancelled).")
    handwriting_ink_min: float = Field(0.004, description="Ink share of a write-in region above which it has writing.")
    ocr_language: str = Field("vie", description="Tesseract language for handwriting drafts.")


class ReviewSettings(_Section):
    lease_seconds: int = Field(300, description="How long a reviewer holds an item before it returns to the queue.")
    second_review_share: float = Field(0.0, ge=0.0, le=1.0, description="Share of decisions sent to a second reviewer.")
    session_hours: int = Field(12, description="Web session lifetime (hours).")
    login_attempts_per_minute: int = Field(5, description="Failed logins allowed per minute per address.")


class Settings(_Section):
    form: FormSettings = FormSettings()
    scan: ScanSettings = ScanSettings()
    recognition: RecognitionSettings = RecognitionSettings()
    review: ReviewSettings = ReviewSettings()


DEFAULT_SETTINGS = Settings()
