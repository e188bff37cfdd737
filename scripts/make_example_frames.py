"""Writes the two example sample frames shipped in examples/ (run again only to change them).

- frame-quang-tri-2024.csv: the SIPAS 2024 design of Quảng Trị (seed 003): 3 districts × 3 communes ×
  2 villages × 27 households = 486 sheets, with the villages named in the provincial plan, five reserve
  households per village and one Bưu điện enumerator per commune. Household codes only, no names.
- counters-pks05-2024.csv: a 220-point one-stop counter network in the shape of the PKS05 plan (seed
  000): the provincial service centre, one counter per district and one per commune. District names
  are Bắc Giang's; commune names are made up from common place-name syllables (illustrative only).
  One commune counter carries per-field quotas (Hộ tịch, Chứng thực) as in seed 001.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "examples"
HEADER = ["mã", "tên", "cấp", "mã cấp trên", "chỉ tiêu", "chỉ tiêu theo lĩnh vực", "điều tra viên",
          "tên điều tra viên", "ghi chú"]

QUANG_TRI = [
    ("DH", "Thành phố Đông Hà", "thành phố", [
        ("P2", "Phường 2", "phường", [("KP1", "Khu phố 1"), ("KP2", "Khu phố 2")]),
        ("P4", "Phường 4", "phường", [("KP2", "Khu phố 2"), ("KP3", "Khu phố 3")]),
        ("DL", "Phường Đông Lương", "phường", [("KP2", "Khu phố 2"), ("DA", "Khu phố Đại Áng")]),
    ]),
    ("TX", "Thị xã Quảng Trị", "thị xã", [
        ("P2", "Phường 2", "phường", [("KP2", "Khu phố 2"), ("KP3", "Khu phố 3")]),
        ("AD", "Phường An Đôn", "phường", [("KP1", "Khu phố 1"), ("KP3", "Khu phố 3")]),
        ("HL", "Xã Hải Lệ", "xã", [("NL", "Thôn Như Lệ"), ("TM", "Thôn Tân Mỹ")]),
    ]),
    ("GL", "Huyện Gio Linh", "huyện", [
        ("TT", "Thị trấn Gio Linh", "thị trấn", [("K2", "Khóm 2"), ("KP5", "Khu phố 5")]),
        ("GA", "Xã Gio An", "xã", [("AN", "Thôn An Nha"), ("BS", "Thôn Bình Sơn")]),
        ("TG", "Xã Trung Giang", "xã", [("CG", "Thôn Cang Gián"), ("TB", "Thôn Thủy Bạ")]),
    ]),
]
ENUMERATORS = ["Nguyễn Thị Hương", "Trần Văn Minh", "Lê Thị Thu", "Phạm Văn Đức", "Hoàng Thị Lan",
               "Võ Văn Hải", "Đặng Thị Mai", "Bùi Văn Tuấn", "Hồ Thị Hằng"]
HOUSEHOLDS, RESERVES = 27, 5


def quang_tri() -> list[list[str]]:
    rows = [["QT", "Tỉnh Quảng Trị", "tỉnh", "", "486", "", "", "", ""]]
    enumerator = 0
    for d_code, d_name, d_kind, communes in QUANG_TRI:
        rows.append([d_code, d_name, d_kind, "QT", "162", "", "", "", ""])
        for c_code, c_name, c_kind, villages in communes:
            commune = f"{d_code}-{c_code}"
            rows.append([commune, c_name, c_kind, d_code, "54", "", "", "", ""])
            user, name = f"dtv{enumerator + 1:02d}", ENUMERATORS[enumerator]
            enumerator += 1
            for v_code, v_name in villages:
                village = f"{commune}-{v_code}"
                kind = "khóm" if v_name.startswith("Khóm") else "thôn" if v_name.startswith("Thôn") else "khu phố"
                rows.append([village, v_name, kind, commune, str(HOUSEHOLDS), "", user, name, ""])
                for h in range(1, HOUSEHOLDS + 1):
                    rows.append([f"{village}-H{h:02d}", "", "hộ", village, "", "", "", "", f"Tổ {1 + (h - 1) // 7}"])
                for r in range(1, RESERVES + 1):
                    rows.append([f"{village}-D{r:02d}", "", "hộ dự phòng", village, "", "", "", "", f"Tổ {r}"])
    return rows


BAC_GIANG = [  # district code, name, kind of its communes' seat word, number of commune counters
    ("BGC", "Thành phố Bắc Giang", "Phường", 21), ("VY", "Thị xã Việt Yên", "Phường", 17),
    ("HH", "Huyện Hiệp Hòa", "Xã", 25), ("LG", "Huyện Lạng Giang", "Xã", 21), ("LN", "Huyện Lục Nam", "Xã", 25),
    ("LNG", "Huyện Lục Ngạn", "Xã", 28), ("SD", "Huyện Sơn Động", "Xã", 15), ("TY", "Huyện Tân Yên", "Xã", 22),
    ("YD", "Huyện Yên Dũng", "Xã", 18), ("YT", "Huyện Yên Thế", "Xã", 17),
]
FIRST = ["Tân", "Phúc", "Hòa", "Xuân", "Quang", "Minh", "Đông", "Tây", "Nam", "Bắc", "Hồng", "Thái", "Đức",
         "Nghĩa", "Song", "Hương", "Lam", "Cẩm", "Bảo", "Vân", "Phong", "Mỹ", "An", "Bình", "Thanh", "Trung",
         "Hợp", "Tiên", "Ngọc", "Đồng"]
SECOND = ["Sơn", "Lập", "Thịnh", "Hưng", "Lợi", "Hòa", "Phú", "Thành", "Tiến", "Mai", "Khê", "Lâm", "Yên",
          "Xá", "Lạc", "Trung", "Quang", "Hải"]


def counters() -> list[list[str]]:
    rng = random.Random(2024)
    names = [f"{a} {b}" for a in FIRST for b in SECOND if a != b]
    rng.shuffle(names)
    rows = [["BG", "Tỉnh Bắc Giang", "tỉnh", "", "", "", "", "", ""],
            ["BG-TTHCC", "Trung tâm Phục vụ hành chính công tỉnh", "quầy", "BG", "90", "", "", "", ""]]
    for d_code, d_name, seat, communes in BAC_GIANG:
        rows.append([d_code, d_name, "huyện", "BG", "", "", "", "", ""])
        rows.append([f"{d_code}-UB", f"Bộ phận một cửa UBND {d_name[0].lower() + d_name[1:]}", "quầy", d_code, "45",
                     "", "", "", ""])
        for n in range(1, communes + 1):
            name = names.pop()
            word = "Thị trấn" if seat == "Xã" and n == 1 else seat
            fields = "Hộ tịch=10; Chứng thực=20" if (d_code, n) == ("TY", 2) else ""
            rows.append([f"{d_code}-{n:02d}", f"Bộ phận một cửa UBND {word.lower()} {name}", "quầy", d_code,
                         "" if fields else "30", fields, "", "", ""])
    assert sum(r[2] == "quầy" for r in rows) == 220
    return rows


def write(path: Path, comment: str, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(f"# {comment}\n")
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


if __name__ == "__main__":
    write(OUT / "frame-quang-tri-2024.csv", "Khung mẫu SIPAS 2024 tỉnh Quảng Trị: 18 thôn/khu phố x 27 hộ = 486 "
          "phiếu, mỗi thôn 5 hộ dự phòng; chỉ có mã hộ, không có tên. Nhập: phieu frame import SIPAS-2024 FILE "
          "--add-enumerators", quang_tri())
    write(OUT / "counters-pks05-2024.csv", "Mạng 220 điểm tiếp nhận và trả kết quả (PKS05): tên xã minh họa. "
          "Nhập: phieu frame import PKS05 FILE", counters())
