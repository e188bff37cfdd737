"""A one-page questionnaire with every kind of question, for fast tests of the whole chain."""

from __future__ import annotations

SAMPLE_YAML = """\
survey: THU-NGHIEM
edition: "1"
title: Phiếu thử nghiệm
instructions: Đánh dấu X vào ô trả lời. Tô kín ô để hủy, rồi đánh dấu ô đúng.
sections:
  - title: "Phần A: Thông tin người trả lời"
    questions:
      - id: A1
        type: single
        text: Giới tính của Ông/Bà?
        options:
          - {code: 1, label: Nam}
          - {code: 2, label: Nữ}
      - id: A2
        type: number
        text: Năm nay Ông/Bà bao nhiêu tuổi?
        digits: 2
        min: 18
        max: 99
      - id: A3
        type: multiple
        text: Ông/Bà biết thông tin qua kênh nào?
        options:
          - {code: 1, label: Ti vi}
          - {code: 2, label: Loa phát thanh}
          - {code: 3, label: Mạng xã hội}
          - {code: 9, label: Khác, other: true}
  - title: "Phần B: Mức độ hài lòng"
    questions:
      - id: B1
        type: grid
        text: Ông/Bà hài lòng thế nào với các dịch vụ sau?
        scale:
          - {code: 1, label: Rất không hài lòng}
          - {code: 2, label: Không hài lòng}
          - {code: 3, label: Bình thường}
          - {code: 4, label: Hài lòng}
          - {code: 5, label: Rất hài lòng}
        rows:
          - {id: r1, text: Thủ tục hành chính}
          - {id: r2, text: Thái độ của công chức}
          - {id: r3, text: Thời gian giải quyết}
          - {id: r4, text: Phí và lệ phí}
      - id: B2
        type: text
        text: Ý kiến khác
        lines: 3
"""
