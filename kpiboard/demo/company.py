"""The fictional company behind the demo: Brightline Office Systems.

An office-equipment business — cartridge refills, printer sales and repair, paper and parts,
deliveries to clients' offices — with three branches, each running its own CRM, and one stock
database for the company. Everything here is static description; :mod:`kpiboard.demo.generate`
turns it into rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

COMPANY_NAME = "Brightline Office Systems"

REFERENCE_DATE = dt.date(2026, 10, 31)
"""The last day of the demo data. The history runs 24 full months up to and including it."""

MONTHS = 24


@dataclass(frozen=True)
class Branch:
    code: str
    city: str
    state: str
    weight: float  # share of the company's business
    area_code: str
    zip_prefix: str
    routes: tuple[str, ...]
    route_km: tuple[float, ...]  # each route's typical driving distance from the branch's stock

    @property
    def database(self) -> str:
        return f"crm_{self.code}"


BRANCHES: tuple[Branch, ...] = (
    # Denver's metro area sprawls (the western route climbs into the foothills); Austin's centre
    # is close to the branch; Portland is compact on both sides of the river
    Branch(
        "denver",
        "Denver",
        "CO",
        0.45,
        "303",
        "802",
        ("DEN-N", "DEN-S", "DEN-E", "DEN-W"),
        (16.0, 19.0, 24.0, 32.0),
    ),
    Branch(
        "austin", "Austin", "TX", 0.33, "512", "787", ("AUS-C", "AUS-N", "AUS-S"), (6.0, 21.0, 15.0)
    ),
    Branch("portland", "Portland", "OR", 0.22, "503", "972", ("PDX-E", "PDX-W"), (13.0, 17.0)),
)

STOCK_DATABASE = "stock"


def database_names() -> list[str]:
    """Every operational database of the demo company, in generation order."""
    return [*(b.database for b in BRANCHES), STOCK_DATABASE]


# Headcount per branch at scale 1, by CRM role code, for the biggest branch; smaller branches get
# proportionally fewer (never fewer than one of each).
ROLE_HEADCOUNT = {"SM": 7, "SE": 4, "DR": 3, "WK": 1, "HD": 1}
ROLE_NAMES = {
    "SM": "sales manager",
    "SE": "service engineer",
    "DR": "driver",
    "WK": "warehouse keeper",
    "HD": "branch head",
    "EX": "executive",
    "AN": "analyst",
}

# Monthly seasonality of an office-supply business: slow summer, busy autumn, year-end budgets.
SEASONALITY = (0.92, 0.97, 1.08, 1.02, 0.98, 0.90, 0.78, 0.80, 1.08, 1.12, 1.10, 1.25)
MONTHLY_GROWTH = 0.012

LEAD_CHANNELS: tuple[tuple[str, str, bool, float], ...] = (
    # code, name, is_paid, share of leads
    ("WEB", "Website questionnaire", False, 0.38),
    ("CALL", "Inbound call", False, 0.22),
    ("REF", "Referral", False, 0.12),
    ("ADS", "Paid search ads", True, 0.14),
    ("MAIL", "Email campaign", True, 0.06),
    ("EXPO", "Trade show", True, 0.04),
    ("MKTP", "Marketplace", True, 0.04),
)

PIPELINE_STAGES: tuple[tuple[str, str, int, bool], ...] = (
    # code, name, probability %, is_final
    ("NEW", "New", 10, False),
    ("QUAL", "Qualified", 25, False),
    ("PROP", "Proposal sent", 50, False),
    ("NEGO", "Negotiation", 75, False),
    ("WON", "Won", 100, True),
    ("LOST", "Lost", 0, True),
)

LOST_REASONS = (
    "Price too high",
    "Chose a competitor",
    "No budget this quarter",
    "No response from client",
    "Delivery time too long",
    "Product not in stock",
)

INDUSTRIES = (
    "Legal services",
    "Accounting",
    "Healthcare",
    "Education",
    "Real estate",
    "Logistics",
    "Manufacturing",
    "Retail",
    "Government",
    "IT services",
    "Construction",
    "Hospitality",
)

SEGMENTS = (("KEY", 0.05), ("SMB", 0.35), ("MIC", 0.40), ("PRV", 0.20))

FIRST_NAMES = tuple(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Carlos Karen Daniel Lisa Matthew Nancy Anthony "
    "Betty Mark Sandra Steven Ashley Paul Emily Andrew Kimberly Joshua Donna Kevin Michelle "
    "Brian Carol George Amanda Timothy Melissa Ronald Deborah Jason Stephanie Luis Rebecca Ryan "
    "Sharon Jacob Laura Gary Cynthia Nicholas Dorothy Eric Amy Jonathan Kathleen Ana Angela Wei "
    "Priya".split()
)
LAST_NAMES = tuple(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Chen Patel Kim".split()
)
COMPANY_WORDS = tuple(
    "Summit Pioneer Cedar Granite Harbor Maple Aspen Falcon Keystone Riverside Northstar "
    "Bluebird Silverline Redwood Meridian Crescent Lakeside Evergreen Horizon Sterling Beacon "
    "Prairie Juniper Copper Ironwood Oakridge Highland Canyon Willow Frontier Liberty Union "
    "Atlas Vista".split()
)
COMPANY_NOUNS = tuple(
    "Law Group|Dental|Accounting|Realty|Logistics|Clinic|Academy|Builders|Partners|"
    "Consulting|Insurance|Foods|Motors|Design|Labs|Properties|Medical Center|Print Shop|"
    "Hotel|Architects".split("|")
)
COMPANY_FORMS = ("LLC", "Inc.", "Ltd", "Co.", "PC", "LLP")
STREETS = tuple(
    "Main St|Oak Ave|Pine St|Maple Ave|Cedar Rd|Elm St|Park Blvd|Lake Dr|Hill Rd|"
    "Washington St|Lincoln Ave|Broadway|Market St|Colfax Ave|Congress Ave|Burnside St|"
    "Sunset Blvd|River Rd".split("|")
)

# The product catalog: (category, parent category, kind, unit, price range, items per brand line)
PRINTER_BRANDS = ("HP", "Canon", "Brother", "Kyocera", "Xerox", "Ricoh", "Epson", "Lexmark")
CATEGORY_TREE: tuple[tuple[str, str | None], ...] = (
    ("Consumables", None),
    ("Toner cartridges", "Consumables"),
    ("Ink cartridges", "Consumables"),
    ("Drums and fusers", "Consumables"),
    ("Paper", "Consumables"),
    ("Equipment", None),
    ("Laser printers", "Equipment"),
    ("Inkjet printers", "Equipment"),
    ("Multifunction printers", "Equipment"),
    ("Shredders and laminators", "Equipment"),
    ("Spare parts", None),
    ("Rollers and pads", "Spare parts"),
    ("Boards and sensors", "Spare parts"),
    ("Services", None),
    ("Cartridge refill", "Services"),
    ("Repair labour", "Services"),
    ("Maintenance plans", "Services"),
    ("Delivery", "Services"),
)


@dataclass(frozen=True)
class ProductLine:
    category: str
    kind: str  # G good, S service
    unit: str
    price: tuple[float, float]  # list price range
    margin: tuple[float, float]  # purchase price as a share of list price
    per_brand: int  # models per printer brand (0: brand-less items)
    plain: tuple[str, ...] = ()  # brand-less item names
    demand: float = 1.0  # relative popularity on invoices


PRODUCT_LINES: tuple[ProductLine, ...] = (
    ProductLine("Toner cartridges", "G", "pcs", (45, 260), (0.55, 0.72), 14, demand=3.0),
    ProductLine("Ink cartridges", "G", "pcs", (18, 95), (0.50, 0.70), 8, demand=2.0),
    ProductLine("Drums and fusers", "G", "pcs", (60, 420), (0.55, 0.75), 4, demand=0.6),
    ProductLine(
        "Paper",
        "G",
        "ream",
        (5, 60),
        (0.60, 0.80),
        0,
        (
            "Copy paper A4 80gsm",
            "Copy paper Letter 20lb",
            "Copy paper Legal 20lb",
            "Premium paper Letter 24lb",
            "Recycled paper Letter",
            "Photo paper glossy 4x6",
            "Photo paper matte Letter",
            "Cardstock Letter 110lb",
            "Label sheets Letter",
            "Plotter roll 36in",
        ),
        demand=2.5,
    ),
    ProductLine("Laser printers", "G", "pcs", (180, 1400), (0.70, 0.85), 4, demand=0.35),
    ProductLine("Inkjet printers", "G", "pcs", (90, 600), (0.70, 0.85), 3, demand=0.25),
    ProductLine("Multifunction printers", "G", "pcs", (400, 6500), (0.70, 0.85), 4, demand=0.2),
    ProductLine(
        "Shredders and laminators",
        "G",
        "pcs",
        (60, 900),
        (0.60, 0.75),
        0,
        (
            "Shredder cross-cut 12 sheet",
            "Shredder micro-cut 20 sheet",
            "Office shredder 60L",
            "Laminator A4",
            "Laminator A3",
            "Binding machine comb",
        ),
        demand=0.2,
    ),
    ProductLine("Rollers and pads", "G", "pcs", (8, 70), (0.40, 0.60), 3, demand=0.5),
    ProductLine("Boards and sensors", "G", "pcs", (35, 380), (0.50, 0.70), 2, demand=0.2),
    ProductLine(
        "Cartridge refill",
        "S",
        "svc",
        (15, 70),
        (0.20, 0.35),
        0,
        (
            "Toner refill, standard yield",
            "Toner refill, high yield",
            "Toner refill with chip reset",
            "Ink cartridge refill, black",
            "Ink cartridge refill, color",
            "Drum unit recovery",
        ),
        demand=3.0,
    ),
    ProductLine(
        "Repair labour",
        "S",
        "hour",
        (45, 110),
        (0.0, 0.0),
        0,
        (
            "Diagnostics",
            "Repair labour, standard rate",
            "Repair labour, on-site",
            "Firmware update",
            "Network setup",
        ),
        demand=0.8,
    ),
    ProductLine(
        "Maintenance plans",
        "S",
        "month",
        (49, 450),
        (0.0, 0.0),
        0,
        (
            "Managed print, up to 5 devices",
            "Managed print, up to 20 devices",
            "Managed print, fleet",
            "Preventive maintenance visit",
        ),
        demand=0.3,
    ),
    ProductLine(
        "Delivery",
        "S",
        "svc",
        (10, 45),
        (0.0, 0.0),
        0,
        ("Delivery in city", "Delivery out of city", "Express delivery"),
        demand=0.9,
    ),
)

SUPPLIERS = (
    "Rocky Mountain Imaging Supply",
    "Pacific Toner Wholesale",
    "Lone Star Office Distribution",
    "Continental Print Parts",
    "Great Plains Paper Co.",
    "Cascade Business Machines",
    "Delta Imaging Components",
    "Midwest Consumables Group",
    "Sierra Electronics Parts",
    "Coastal Paper Mills",
    "Frontier Equipment Trading",
    "Union Printer Distributors",
)

EQUIPMENT_PROBLEMS = (
    "Paper jams constantly",
    "Streaks on printed pages",
    "Does not power on",
    "Error code on display",
    "Fuser noise",
    "Prints blank pages",
    "Scanner not working",
    "Network printing fails",
    "Toner smears",
    "Feeds several sheets at once",
)
DIAGNOSES = (
    "Worn pickup roller replaced",
    "Fuser unit replaced",
    "Drum unit worn out",
    "Main board failure",
    "Laser unit cleaned",
    "Power supply replaced",
    "Firmware corrupted, reflashed",
    "Sensor replaced",
    "No fault found",
)
DELIVERY_FAILURES = ("Client absent", "Wrong address", "Refused on delivery", "Office closed")
ACTIVITY_SUBJECTS = {
    "CIN": ("Question about invoice", "Order cartridges", "Printer problem", "Price request"),
    "COUT": ("Follow-up on proposal", "Refill reminder", "Check satisfaction", "Cold call"),
    "MEET": ("Presentation of managed print", "Contract negotiation", "Quarterly review"),
    "MAIL": ("Proposal sent", "Price list sent", "Invoice reminder", "Newsletter follow-up"),
    "VIS": ("Office visit, fleet audit", "Visit with demo device", "On-site consultation"),
}
LEAD_RESPONSE_SUBJECTS = {
    # the first answer to an enquiry, by how it is given
    "COUT": ("Call back on enquiry", "Call about website request", "Introductory call"),
    "MAIL": ("Reply to enquiry", "Offer sent after enquiry", "Questions about the request"),
}
LEAD_FOLLOW_UP_SUBJECTS = {
    # what follows the first answer while the lead is worked
    "COUT": ("Follow-up on enquiry", "Second call about request", "Clarify needs"),
    "MAIL": ("Price list after enquiry", "Follow-up e-mail on offer", "Reminder about offer"),
    "MEET": ("Meeting on enquiry", "Needs assessment meeting"),
}
TASK_TITLES = (
    "Call back the client",
    "Send the proposal",
    "Prepare the contract",
    "Remind about overdue invoice",
    "Schedule printer maintenance",
    "Check stock for order",
    "Update client details",
    "Arrange delivery",
    "Collect feedback after repair",
    "Prepare quarterly review",
)
