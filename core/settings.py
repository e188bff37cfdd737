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
    digits_font_pt: float = Field(11.0, ge=11.0, description="Size of the printed SERIAL-PAGE-MAC digits line (points).")
    large_print_box_mm: float = Field(6.5, ge=5.0, description="Side of an answer box with --large-print (mm).")
    margin_mm: float = Field(12.0, description="Left and right paper margin of the printed content (mm).")
    clear_mm: float = Field(8.0, description="Clear paper kept around registration marks and the QR code (mm).")
    writein_height_mm: float = Field(9.0, description="Height of an 'other, please specify' write-in frame (mm).")
    text_line_mm: float = Field(9.0, description="Height of one line of a free-text box (mm).")
    grid_scale_mm: float = Field(72.0, description="Width given to a grid's scale columns (mm); rows text gets the rest.")


class ScanSettings(_Section):
    render_dpi: int = Field(300, description="DPI used to render PDF pages that carry no embedded image.")
    decode_dpi: float = Field(150.0, description="JPEG pages at least twice this fine are decoded at 1/2, 1/4 or 1/8 of their size by the decoder's DCT scaling (faster than a full decode, and all recognition uses); a page not identified so is decoded again in full. 0 = always in full.")
    min_dpi: int = Field(150, description="Scanned pages (their file states a resolution) below this resolution are refused as unreadable.")
    min_photo_dpi: int = Field(100, description="Photos (no resolution stated: estimated from the picture) below this resolution are refused; a messenger's photo of a sheet is about 120-140 dpi.")
    max_skew_deg: float = Field(12.0, description="Largest rotation accepted when finding marks.")
    jobs: int = Field(0, description="Worker processes; 0 means one per CPU core.")
    mark_search_dpi: float = Field(50.0, description="Resolution of the reduced copy searched for registration marks.")
    mark_size_tolerance: float = Field(0.5, description="Relative tolerance of a mark candidate's size against the expected size.")
    mark_geometry_tolerance: float = Field(0.15, description="Relative tolerance of the distances between the marks (scale, perspective).")
    mark_darkness_min: float = Field(0.55, description="Contrast (0 paper .. 1 black) a mark's interior must reach; printed text blurs lighter.")
    mark_size_match: float = Field(0.3, description="Relative tolerance of each chosen mark's size against the size implied by the distances between the marks.")
    code_mark_radius_mm: float = Field(8.0, description="When marks are cut off: how far from where the QR code predicts a mark a blob may lie to be taken for it (mm).")
    fit_residual_max_mm: float = Field(0.5, description="Largest mean misfit (mm) of the code corners and marks an alignment without four marks is fitted on.")
    blank_ink_max: float = Field(0.003, description="Share of dark pixels below which a page is a blank back (duplex) page.")
    blank_darkness: float = Field(0.4, description="Darkness (0 paper .. 1 black) from which a pixel counts as ink in the blank-page test.")
    qr_margin_mm: float = Field(5.0, description="Margin around the layout's QR square cropped for decoding (mm).")
    digits_ocr_dpi: int = Field(300, description="Resolution of the digits-line crop given to OCR when no QR code is readable.")
    max_page_pixels: int = Field(100_000_000, ge=1_000_000, description="Largest page image decoded, width × height, checked from the file's header before decoding (A3 at 600 dpi is 70 million pixels; a 30,000 × 30,000 'pixel bomb' 900 million). Larger pages are refused as 'pixel_limit'.")
    max_page_mm: float = Field(600.0, ge=300.0, description="Longest side of a PDF page that is rendered (mm: MediaBox × UserUnit, checked before rendering; A3 is 420 mm, A2 594 mm). Larger pages are refused as 'page_size_limit'.")
    max_file_mb: int = Field(8192, ge=1, description="Largest scan file read (MB); a 1,000-page PDF of 300 dpi greyscale JPEG pages is about 1 GB (streamed: memory does not grow with it). Larger files are refused as 'file_too_large'.")
    max_pages_per_file: int = Field(10_000, ge=1, description="Most pages read from one file; more is refused as 'too_many_pages'.")
    worker_memory_mb: int = Field(2048, ge=0, description="Address space a worker process may use (MB; 0 = no limit): a page that needs more fails alone ('out_of_memory') instead of exhausting the machine.")
    max_interrupted: int = Field(2, ge=1, description="A file whose reading was interrupted this many times (the run died while reading it) is not tried again but failed ('repeated_interruption'); the hot folder sets it aside.")


class RecognitionSettings(_Section):
    canonical_dpi: int = Field(150, description="Resolution of the aligned page that recognition measures.")
    ring_mm: float = Field(1.5, description="Width of the band outside a box frame searched for circles and overflow.")
    empty_below: float = Field(0.06, description="Ink share of a box interior below which it is empty.")
    marked_above: float = Field(0.14, description="Ink share above which a box is marked (between: uncertain).")
    cancelled_above: float = Field(0.78, description="Ink share above which a box counts as filled solid (cancelled); a heavy real cross covers up to ~0.7, a box filled to cancel it 0.85 and more.")
    fill_sides_min: float = Field(0.6, ge=0, le=1, description="A solid box is a fill (cancelled) only when the middle of each of its sides is this much inked; a heavy marker cross leaves a white wedge there and is a mark.")
    handwriting_ink_min: float = Field(0.004, description="Ink share of a write-in region above which it has writing.")
    ocr_language: str = Field("vie", description="Tesseract language for handwriting drafts.")
    background_mm: float = Field(8.0, description="Window for the paper-brightness estimate (larger than a filled box), evens out uneven light.")
    ink_darkness: float = Field(0.25, description="Darkness (0 paper .. 1 black) above which a pixel is ink, for pen; lowered per sheet for pencil.")
    ink_darkness_floor: float = Field(0.12, description="Lowest pixel-ink darkness a light-pencil sheet may adapt to (paper texture stays below).")
    blank_dilate_mm: float = Field(0.35, description="Printed ink of the blank master is grown by this much, absorbing residual misalignment.")
    refine_mm: float = Field(1.2, description="Each box is re-aligned locally against the blank within this shift (mm).")
    inner_inset_mm: float = Field(0.4, description="Inset of a box interior from the frame's inner edge, so the frame line never counts.")
    speck_mm2: float = Field(0.12, description="Ink blobs smaller than this (mm²) are dust or speckle, never marks.")
    ring_empty_below: float = Field(0.03, description="Ring ink share below which nothing is around a box.")
    ring_marked_above: float = Field(0.06, description="Ring ink share (with an empty interior) that counts as a circle around the code.")
    pen_darkness: float = Field(0.6, description="Mean darkness of ballpoint-pen marks; paler (pencil) marks are judged with proportionally lower thresholds.")
    light_ink_scale_min: float = Field(0.6, description="Lowest factor by which pale ink lowers the empty/marked thresholds.")
    code_mm_per_char: float = Field(3.0, description="Width per character of the code printed right of a box; the ring covers it, so a circle around the code is seen.")
    stroke_span_min: float = Field(0.4, description="A stroke whose narrower extent covers this share of a box side is a (thin or broken) mark.")
    min_registration: float = Field(0.6, description="Share of boxes that must re-align against the blank; below it the whole page goes to review.")
    faint_noise_factor: float = Field(3.0, description="A box is searched for faint ink (a light pencil stroke under the sheet's ink threshold) from this many times the paper's noise darkness; a faint stroke across the box makes it uncertain, never empty.")
    loop_reach_mm: float = Field(6.0, description="How far beyond an option's box and code a loop drawn around them may run (mm); strokes are attributed within this reach of the boxes.")
    loop_cover_min: float = Field(0.6, description="Share of the directions around an option's box or code a stroke must cover to be a loop around it (open loops leave a gap).")
    loop_min_mm: float = Field(8.0, description="Shortest loop looked for (mm of stroke outside the boxes, at about 0.25 mm of pen width): less ink around an option than this is a tick's overshoot, not a circle.")
    open_loop_cover_min: float = Field(0.4, description="A stroke mostly outside the boxes that surrounds one option on this share of the directions, more than any other option, is an open loop: that option is doubtful unless its box is marked.")
    dot_mm: float = Field(1.6, description="A blob of ink no wider or higher than this (mm) is a dot (a pen rest): beside a box it is nobody's mark, inside an otherwise empty box it is not a mark either.")
    gap_mm: float = Field(0.6, description="Gaps in a stroke up to this long (a skipping ballpoint, a faint stretch) are closed before strokes are told apart (mm).")
    rejoin_mm: float = Field(1.6, description="A stroke cut by the print it crosses is one stroke when its pieces reach within twice this distance over print (mm); a closed loop only counts gaps of at most this much.")
    stroke_owner_share: float = Field(0.7, description="Share of a stroke's in-box ink one box must hold to own it; less, and every box it touches counts it (a person decides).")
    beside_mm: float = Field(1.5, description="A stroke with no mark in any box belongs to the option whose box and code it lies within this distance of (a tick on the code); that option is then doubtful.")
    handwriting_min_stroke_mm: float = Field(3.0, description="A write-in has writing only if one ink stroke spans at least this much (mm).")


class ReviewSettings(_Section):
    lease_seconds: int = Field(300, description="How long a reviewer holds an item before it returns to the queue.")
    second_review_share: float = Field(0.0, ge=0.0, le=1.0, description="Share of decisions sent to a second reviewer.")
    session_hours: int = Field(12, description="Web session lifetime (hours).")
    login_attempts_per_minute: int = Field(
        5, ge=1, description="Failed logins allowed per minute per address, and per username (the web form and the JSON login count together)."
    )
    https_only_cookies: bool = Field(
        False, description="Mark session cookies Secure (only sent over HTTPS); turn on when served behind TLS."
    )
    max_upload_mb: int = Field(512, ge=1, description="Largest browser upload of scan files accepted at once (MB); also the web server's limit on any request body.")
    reread_wait_seconds: float = Field(60.0, gt=0, description="How long a page asks the background runner to re-read a page (a person turned or assigned it) and waits for the answer.")
    anonymous_body_kb: int = Field(64, ge=4, description="Largest request body the web server reads from someone not signed in (KB): a login needs less than one.")
    ocr_draft_min_confidence: float = Field(
        65.0, ge=0.0, le=100.0,
        description="An OCR draft of handwriting is offered to the reviewer only when tesseract's own mean word confidence (0-100) reaches this; below it the field starts empty. Measured by benchmarks/ocr_drafts.py: at 65 no scribble's draft and 99% useful drafts were shown, 10% of useful ones hidden.",
    )


class ResultsSettings(_Section):
    chart_dpi: int = Field(150, ge=72, description="Resolution of the charts in reports and on the results page (dots per inch).")
    display_decimals: int = Field(2, ge=0, le=6, description="Decimals shown for index values in reports and on pages (files keep full precision).")
    top_units: int = Field(5, ge=1, description="How many units the report names as the highest and the lowest.")
    chart_units_max: int = Field(40, ge=2, description="Unit rankings with more units than this are shown as a table only, without a chart.")


class FieldworkSettings(_Section):
    """Defaults of the fieldwork rules; a survey may override each (``phieu frame rules``)."""

    quota_tolerance: float = Field(0.5, ge=0.0, le=1.0, description="Counter surveys: a counter's responses in a day may differ from its visitors by at most this share (the provincial plan: 50 %).")
    busy_visitors: int = Field(40, ge=1, description="Visitors in a day from which a counter is very busy: it then needs only busy_min_responses responses, however many came.")
    busy_min_responses: int = Field(20, ge=0, description="Responses a very busy counter needs in a day (the provincial plan: at least 20).")
    verification_per_village: int = Field(3, ge=1, description="Delivered households drawn per village for re-verification (phúc tra).")
    overdue_days: int = Field(3, ge=0, description="Days after a sheet was issued when it is overdue if not collected (used when the survey has no collect-by date).")
    allowance_vnd: int = Field(0, ge=0, description="Allowance per respondent printed on the signed allowance list (VND); 0 leaves the amount to be written in.")


class QueueSettings(_Section):
    """Page processing on Celery over Redis (``PHIEU_BROKER_URL``; see docs/deploy.md)."""

    pages_in_flight: int = Field(32, ge=1, description="Pages a scanning process keeps queued or being read at once: at least the worker processes of all machines together, so none waits.")
    visibility_timeout_seconds: int = Field(600, ge=1, description="A page taken by a worker that does not acknowledge it within this time (its machine died, or it was killed with kill -9) is handed to another worker. Longer than the slowest page: a page still being read then is read a second time (stored once).")
    restore_interval_seconds: int = Field(10, ge=1, description="How often the workers look for pages whose visibility timeout has passed.")
    job_visibility_timeout_seconds: int = Field(7200, ge=1, description="The same for the web application's scans and re-reads, run by `phieu worker --writer` (a job longer than this may run twice at once, which is harmless: pages are stored once).")
    max_deliveries: int = Field(3, ge=1, description="A page whose worker died this many times (a page that crashes the decoder) is recorded unreadable ('worker_crashed') instead of being handed out again.")
    stall_seconds: int = Field(900, ge=10, description="A scanning process that receives no page from any worker for this long stops with a message (no worker running?); its files are marked interrupted and `phieu scan --resume` finishes them.")
    result_ttl_seconds: int = Field(86_400, ge=60, description="How long a page's result waits in Redis for a scanning process that is gone.")


class Settings(_Section):
    form: FormSettings = FormSettings()
    scan: ScanSettings = ScanSettings()
    recognition: RecognitionSettings = RecognitionSettings()
    review: ReviewSettings = ReviewSettings()
    results: ResultsSettings = ResultsSettings()
    fieldwork: FieldworkSettings = FieldworkSettings()
    queue: QueueSettings = QueueSettings()


DEFAULT_SETTINGS = Settings()
