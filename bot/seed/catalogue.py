"""Generate the product catalogue pages in sources/catalogue/ of the brand from
its products.yml, so prices and SKUs come from the same data as the orders, and
the sample brand's PDF source (help/tent-setup-guide.pdf).

    python -m bot.seed.catalogue
"""

from __future__ import annotations

from bot.core.settings import current_brand

DETAILS = {
    "kitchen": (
        "Kitchen",
        "Dishwasher safe unless the care line says otherwise. Covered by our 2-year warranty.",
    ),
    "home": (
        "Home",
        "Machine washable at 40°C unless the care line says otherwise. Covered by our 2-year warranty.",
    ),
    "outdoor": ("Outdoor", "Tested in the field by our team. Covered by our 3-year outdoor warranty."),
    "apparel": ("Apparel", "See the size guide for fit. Covered by our 1-year warranty on seams and zips."),
}
SPECS = {
    "Kettle": "Capacity 1.7 litres; works on gas, electric and induction hobs.",
    "Knife": "Forged high-carbon stainless steel, full tang; hand wash only.",
    "Skillet": "Pre-seasoned cast iron, 26 cm; oven safe to 260°C; hand wash and oil after use.",
    "Dutch Oven": "Enamelled cast iron, 5.2 litres; oven safe to 260°C.",
    "Coffee Set": "Glass dripper, carafe and 40 paper filters; makes up to 4 cups.",
    "Grinder": "Conical steel burrs with 30 grind settings; 220 g bean hopper.",
    "Mug Set": "Four 350 ml stoneware mugs; microwave safe.",
    "Dinner Set": "12 pieces for four people: dinner plates, side plates, bowls.",
    "Duvet Cover": "Stone-washed linen; double, queen and king sizes.",
    "Sheet Set": "400 thread count cotton percale; fitted sheet, flat sheet, two pillowcases.",
    "Throw": "130 x 170 cm.",
    "Towel Set": "Two bath towels and two hand towels, 600 gsm cotton.",
    "Bath Mat": "50 x 80 cm tufted cotton, non-slip backing.",
    "Table Lamp": "Ceramic base, linen shade, E27 bulb up to 60 W (bulb not included).",
    "Floor Lamp": "Height 155 cm, steel stem, E27 bulb up to 60 W (bulb not included).",
    "Candle": "Soy wax, 45 hours burn time, sea salt and cedar scent.",
    "Diffuser": "100 ml, lasts about 8 weeks, sea salt and cedar scent.",
    "2-Person Tent": "Sleeps 2; 1.9 kg; waterproof to 3000 mm; sets up in 5 minutes.",
    "4-Person Tent": "Sleeps 4; 4.6 kg; waterproof to 3000 mm; two doors and two porches.",
    "Down Sleeping Bag": "650 fill-power responsibly sourced down; comfort rating -5°C; 1.1 kg.",
    "Synthetic Sleeping Bag": "Synthetic fill that stays warm when damp; comfort rating 0°C; 1.4 kg.",
    "Daypack": "28 litres, padded laptop sleeve, rain cover included.",
    "Backpack": "45 litres, adjustable back length, hip belt pockets, rain cover included.",
    "Bottle": "750 ml double-walled steel; keeps drinks cold 24 hours and hot 12 hours.",
    "Camp Stove": "Single burner for screw-on gas canisters; boils 1 litre in 4 minutes.",
    "Folding Chair": "Aluminium frame, holds up to 120 kg, packs to 35 cm.",
    "Picnic Blanket": "150 x 200 cm with a waterproof backing.",
    "Rain Jacket": "3-layer waterproof breathable shell, taped seams, adjustable hood.",
    "Vest": "Packs into its own pocket; synthetic insulation.",
    "Sweater": "100% merino wool, 18.5 micron; hand wash cold.",
    "Pullover": "Recycled polyester fleece, half zip.",
    "Shoes": "Trail running shoes with a 4 mm drop and a grippy lugged sole; sizes 5 to 13.",
    "Boots": "Waterproof leather hiking boots with a membrane lining; sizes 5 to 13.",
    "Socks": "Merino blend, cushioned sole; sizes S, M, L.",
    "Beanie": "Merino rib knit, one size.",
    "Sun Hat": "UPF 50+ cotton canvas, wide brim; sizes S/M and L/XL.",
    "Tote": "Waxed canvas, 20 litres.",
    "Belt": "Full-grain leather, solid brass buckle; waist sizes 28 to 42.",
    "Wallet": "Full-grain leather bifold with 6 card slots.",
}


def spec_for(name: str) -> str:
    return next((text for key, text in SPECS.items() if key in name), "")


def main() -> None:
    products = current_brand().products()
    out = current_brand().sources / "catalogue"
    out.mkdir(parents=True, exist_ok=True)
    for category, (title, note) in DETAILS.items():
        lines = [f"# {title} catalogue", "", f"All prices in US dollars. {note}", ""]
        for p in (p for p in products if p["category"] == category):
            lines += [
                f"## {p['name']}",
                "",
                f"Item number {p['sku']}. Price ${p['price']:.2f}. {spec_for(p['name'])}",
                "",
            ]
        (out / f"{category}.md").write_text("\n".join(lines))
    print(f"wrote {len(DETAILS)} catalogue pages for {len(products)} products to {out}")
    write_simple_pdf(
        current_brand().sources / "help" / "tent-setup-guide.pdf", "Ridge tent set-up guide", TENT_GUIDE
    )


def write_simple_pdf(path, title: str, lines: list[str]) -> None:
    """A minimal one-page PDF with real text (Helvetica), for the sample brand's PDF source."""
    escaped = [
        line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in [title, "", *lines]
    ]
    text = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(f"({line}) '" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>",
    ]
    out, offsets = "%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(
        f"{o:010d} 00000 n \n" for o in offsets
    )
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    path.write_bytes(out.encode("latin-1"))


TENT_GUIDE = [
    "1. Lay the footprint on flat ground and clear away stones.",
    "2. Spread the inner tent on the footprint, door facing away from the wind.",
    "3. Assemble the two colour-coded poles and clip the inner tent to them.",
    "4. Throw the flysheet over, match the colours and buckle it at each corner.",
    "5. Peg out the corners at 45 degrees and tension the guy lines.",
    "Pitching takes about 5 minutes once you have done it at home first.",
    "Dry the tent completely before you pack it away, to avoid mildew.",
    "Missing or broken parts are covered by the 3-year outdoor warranty.",
]


if __name__ == "__main__":
    main()
