"""The words the catalogue generator draws from: WebShop's five categories, product types, attributes, options.

WebShop scraped Amazon for five categories (beauty, food, fashion, furniture, electronics), each product under
the search query that found it and an Amazon category path ("A › B › C"). The tables below give each category
its product types (the noun that names the product, its scrape query, its category path, its option groups and
a price band) and a pool of attribute phrases of the kind WebShop's `items_ins_v2` holds ("long lasting",
"gluten free"). Option values follow WebShop's cleaning: lowercase, "/" written as " | ".
"""

from __future__ import annotations

from typing import NamedTuple


class ProductType(NamedTuple):
    """One kind of product: `noun` names it in titles and instructions."""

    noun: str
    query: str
    path: str
    """The category path below the category's root, "B › C"."""
    option_groups: tuple[str, ...]
    """Keys of `OPTION_POOLS`; a product offers each group with a probability (first groups more often)."""
    price: tuple[float, float]
    """Band the product's base price is drawn from, in dollars."""
    attributes: tuple[str, ...]
    """Attribute phrases only this type has (added to its category's general ones)."""


class Category(NamedTuple):
    root: str
    """First segment of `product_category`."""
    types: tuple[ProductType, ...]
    attributes: tuple[str, ...]
    """Attribute phrases any product of the category may have."""
    uses: tuple[str, ...]
    """Phrases completing "ideal for ..." in descriptions."""


OPTION_POOLS: dict[str, tuple[str, tuple[str, ...]]] = {
    # key: (option name shown on the item page, values)
    "color_fashion": ("color", (
        "black", "white", "navy", "red", "grey", "beige", "khaki", "olive", "burgundy", "pink", "purple",
        "green", "yellow", "brown", "black | white", "teal", "ivory", "orange")),
    "color_home": ("color", (
        "black", "white", "grey", "walnut", "espresso", "natural", "oak", "beige", "navy", "green", "teal",
        "silver", "gold", "rustic brown", "cream")),
    "color_tech": ("color", (
        "black", "white", "silver", "space gray", "blue", "red", "rose gold", "green", "purple", "midnight")),
    "color_beauty": ("color", (
        "nude", "coral", "berry", "ruby red", "mauve", "plum", "rose", "peach", "natural beige", "warm ivory",
        "medium tan", "deep espresso", "light", "dark brown", "black", "clear")),
    "size_apparel": ("size", ("x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large")),
    "size_shoes": ("size", ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12", "13")),
    "size_waist": ("size", ("28w x 30l", "30w x 30l", "32w x 32l", "34w x 32l", "36w x 30l", "38w x 34l")),
    "size_liquid": ("size", (
        "1 fl oz (pack of 1)", "1.7 fl oz", "2 fl oz", "3.4 fl oz", "6.76 fl oz (pack of 1)", "8 fl oz",
        "12 fl oz", "16.9 fl oz", "33.8 fl oz", "8 fl oz (pack of 2)")),
    "size_cream": ("size", ("0.5 ounce", "1 ounce", "1.7 ounce", "2 ounce", "4 ounce", "8 ounce (pack of 1)")),
    "size_food": ("size", (
        "4 ounce (pack of 1)", "8 ounce (pack of 1)", "12 ounce (pack of 6)", "1 pound (pack of 1)",
        "2 pound (pack of 1)", "5 pound", "16 ounce (pack of 2)", "24 count (pack of 1)", "12 count", "36 count")),
    "size_home": ("size", (
        "twin", "full", "queen", "king", "california king", "24 x 36 inch", "36 x 48 inch", "2 pack", "4 pack",
        "small", "large")),
    "size_screen": ("size", ("24 inch", "27 inch", "32 inch", "43 inch", "50 inch", "55 inch", "65 inch")),
    "flavor": ("flavor name", (
        "original", "chocolate", "vanilla", "sea salt", "honey", "strawberry", "peanut butter", "cinnamon",
        "spicy", "cheddar", "lemon", "blueberry", "salted caramel", "barbecue", "mint", "coconut")),
    "scent": ("scent", (
        "lavender", "unscented", "fresh linen", "vanilla", "coconut", "eucalyptus", "citrus", "rose",
        "sandalwood", "green tea")),
    "capacity": ("capacity", ("32gb", "64gb", "128gb", "256gb", "512gb", "1tb", "2tb")),
    "style_tech": ("style", ("standard", "pro", "with charger", "without charger", "2-pack", "bundle", "wireless")),
    "style_home": ("style", ("modern", "rustic", "industrial", "mid-century", "farmhouse", "contemporary")),
    "pack": ("item package quantity", ("1", "2", "3", "4", "6", "12")),
    "material": ("material", ("cotton", "linen", "polyester", "bamboo", "microfiber", "leather", "wool blend")),
}

HAIR = ("sulfate free", "hair growth", "damaged hair", "argan oil", "professional salon", "color safe", "dry hair")
SKIN = ("dry skin", "sensitive skin", "anti aging", "hyaluronic acid", "oil free", "fragrance free", "tea tree")
MAKEUP = ("highly pigmented", "matte finish", "smudge proof", "easy to apply", "paraben free", "natural look")
SNACK = ("individually wrapped", "low calorie", "high protein", "keto friendly", "resealable bag", "low carb")
DRINK = ("caffeine free", "fair trade", "single origin", "medium roast", "usda organic", "zero sugar")
PANTRY = ("low sodium", "no added sugar", "plant based", "usda organic", "family size", "shelf stable")
TOPS = ("long sleeve", "short sleeve", "classic fit", "crew neck", "moisture wicking", "machine wash")
BOTTOMS = ("slim fit", "relaxed fit", "high waist", "elastic waistband", "stretch fabric", "machine wash")
SHOES = ("non slip", "rubber sole", "arch support", "memory foam", "lace up", "cushioned insole")
HOME = ("easy assembly", "solid wood", "space saving", "metal frame", "wood finish", "assembly required")
SOFT_HOME = ("machine washable", "easy clean", "fade resistant", "thermal insulated", "double sided", "soft touch")
AUDIO = ("noise cancelling", "stereo sound", "long battery life", "hands free", "deep bass", "wireless bluetooth")
STORAGE = ("high speed", "plug and play", "usb c", "shock proof", "password protection", "compact design")
GADGET = ("fast charging", "touch screen", "water resistant", "heart rate", "easy install", "night vision")

CATEGORIES: dict[str, Category] = {
    "beauty": Category(
        root="Beauty & Personal Care",
        types=(
            ProductType("shampoo", "shampoo", "Hair Care › Shampoos", ("size_liquid", "scent"), (6, 40), HAIR),
            ProductType("conditioner", "conditioner", "Hair Care › Conditioners", ("size_liquid", "scent"), (6, 40), HAIR),
            ProductType("hair oil", "hair treatment oil", "Hair Care › Hair Oils", ("size_liquid",), (8, 45), HAIR),
            ProductType("lipstick", "lipstick", "Makeup › Lips › Lipstick", ("color_beauty", "pack"), (5, 35), MAKEUP),
            ProductType("foundation", "foundation", "Makeup › Face › Foundation", ("color_beauty", "size_cream"), (9, 60),
                        MAKEUP + ("full coverage", "oil free")),
            ProductType("eyeshadow palette", "eyeshadow palette", "Makeup › Eyes › Eyeshadow", ("color_beauty",), (8, 55),
                        MAKEUP + ("eye shadow", "shimmer finish")),
            ProductType("face moisturizer", "face moisturizer", "Skin Care › Face › Moisturizers", ("size_cream", "scent"),
                        (10, 80), SKIN),
            ProductType("body lotion", "body lotion", "Skin Care › Body › Lotions", ("size_liquid", "scent"), (6, 30), SKIN),
            ProductType("perfume", "eau de parfum", "Fragrance › Women's › Eau de Parfum", ("size_liquid",), (20, 160),
                        ("fine mist", "floral scent", "alcohol free", "gift set", "fresh scent")),
            ProductType("nail polish", "nail polish", "Foot, Hand & Nail Care › Nail Polish", ("color_beauty", "pack"),
                        (4, 25), ("quick drying", "chip resistant", "high gloss", "nail art", "non toxic")),
            ProductType("hair dryer", "hair dryer", "Hair Care › Styling Tools › Hair Dryers", ("color_tech",), (20, 190),
                        ("ionic technology", "fast drying", "low noise", "diffuser attachment", "damaged hair")),
        ),
        attributes=("long lasting", "cruelty free", "travel size", "natural ingredients", "easy to use", "high quality",
                    "vegan", "non toxic", "dermatologist tested"),
        uses=("daily use", "everyday routines", "sensitive skin", "travel", "a natural look", "all skin types"),
    ),
    "food": Category(
        root="Grocery & Gourmet Food",
        types=(
            ProductType("snack bar", "protein snack bars", "Snacks & Sweets › Snack Food Bars", ("flavor", "size_food"),
                        (8, 45), SNACK),
            ProductType("potato chips", "potato chips", "Snacks & Sweets › Chips & Crisps", ("flavor", "size_food"),
                        (3, 30), SNACK),
            ProductType("coffee beans", "whole bean coffee", "Beverages › Coffee › Whole Coffee Beans",
                        ("flavor", "size_food"), (9, 55), DRINK),
            ProductType("green tea", "green tea bags", "Beverages › Tea › Green Tea", ("flavor", "size_food"), (4, 30),
                        DRINK),
            ProductType("beef jerky", "beef jerky", "Meat & Seafood › Jerky & Dried Meats", ("flavor", "size_food"),
                        (7, 50), SNACK + ("grass fed",)),
            ProductType("dark chocolate", "dark chocolate bar", "Snacks & Sweets › Chocolate › Bars",
                        ("flavor", "size_food"), (4, 35), SNACK + ("fair trade",)),
            ProductType("pasta sauce", "pasta sauce", "Pantry Staples › Sauces › Pasta Sauces", ("flavor", "size_food"),
                        (4, 28), PANTRY),
            ProductType("almond butter", "almond butter", "Pantry Staples › Nut Butters", ("flavor", "size_food"),
                        (6, 32), PANTRY),
            ProductType("granola", "granola cereal", "Breakfast Foods › Cereals › Granola", ("flavor", "size_food"),
                        (4, 26), PANTRY + ("high fiber",)),
            ProductType("olive oil", "extra virgin olive oil", "Pantry Staples › Oils › Olive Oil", ("size_food",),
                        (8, 60), ("cold pressed", "extra virgin", "glass bottle", "single origin")),
        ),
        attributes=("gluten free", "sugar free", "non gmo", "dairy free", "certified organic", "kosher",
                    "ready to eat", "artificial flavors", "great gift", "natural ingredients", "nut free"),
        uses=("snacking on the go", "a healthy breakfast", "parties", "the office", "lunch boxes", "gifting"),
    ),
    "fashion": Category(
        root="Clothing, Shoes & Jewelry",
        types=(
            ProductType("t-shirt", "men's t-shirts", "Men › Clothing › Shirts › T-Shirts", ("color_fashion", "size_apparel"),
                        (9, 40), TOPS),
            ProductType("hoodie", "hoodies for women", "Women › Clothing › Fashion Hoodies & Sweatshirts",
                        ("color_fashion", "size_apparel"), (18, 70), TOPS + ("drawstring hood", "fleece lined")),
            ProductType("jeans", "men's jeans", "Men › Clothing › Jeans", ("color_fashion", "size_waist"), (20, 90),
                        BOTTOMS + ("button closure",)),
            ProductType("running shoes", "running shoes", "Men › Shoes › Athletic › Running",
                        ("color_fashion", "size_shoes"), (30, 150), SHOES),
            ProductType("sandals", "women's sandals", "Women › Shoes › Sandals", ("color_fashion", "size_shoes"), (15, 80),
                        SHOES + ("open toe", "ankle strap")),
            ProductType("dress", "summer dress", "Women › Clothing › Dresses › Casual", ("color_fashion", "size_apparel"),
                        (18, 95), ("short sleeve", "v neck", "floral print", "flowy hem", "hand wash")),
            ProductType("leggings", "yoga leggings", "Women › Clothing › Active › Leggings",
                        ("color_fashion", "size_apparel"), (12, 55), BOTTOMS + ("tummy control", "squat proof")),
            ProductType("socks", "athletic socks", "Men › Clothing › Socks & Hosiery",
                        ("color_fashion", "pack", "size_apparel"), (7, 28), ("moisture wicking", "arch support",
                                                                               "cushioned sole", "machine wash")),
            ProductType("winter jacket", "winter jacket", "Men › Clothing › Jackets & Coats",
                        ("color_fashion", "size_apparel"), (40, 220), ("water resistant", "zipper closure", "faux fur",
                                                                        "detachable hood", "windproof")),
            ProductType("backpack", "laptop backpack", "Luggage & Travel Gear › Backpacks", ("color_fashion",), (20, 110),
                        ("water resistant", "laptop compartment", "usb charging port", "padded straps")),
        ),
        attributes=("soft material", "breathable", "lightweight", "daily wear", "polyester cotton", "quick drying"),
        uses=("everyday wear", "workouts", "travel", "the office", "casual outings", "cold weather"),
    ),
    "furniture": Category(
        root="Home & Kitchen",
        types=(
            ProductType("office chair", "ergonomic office chair", "Furniture › Home Office › Chairs",
                        ("color_home", "style_home"), (60, 400), ("lumbar support", "height adjustable", "swivel base",
                                                                  "faux leather", "home office")),
            ProductType("coffee table", "coffee table", "Furniture › Living Room › Tables", ("color_home", "style_home"),
                        (50, 350), HOME + ("living room", "storage shelf")),
            ProductType("bookshelf", "bookshelf", "Furniture › Living Room › Bookcases", ("color_home", "size_home"),
                        (40, 260), HOME + ("storage space",)),
            ProductType("bed frame", "platform bed frame", "Furniture › Bedroom › Beds & Frames",
                        ("size_home", "color_home"), (90, 600), HOME + ("no box spring needed", "under bed storage")),
            ProductType("area rug", "area rug", "Home Décor › Area Rugs", ("size_home", "color_home"), (25, 300),
                        SOFT_HOME + ("non slip", "living room")),
            ProductType("throw pillow", "throw pillow covers", "Bedding › Decorative Pillows",
                        ("color_home", "pack", "material"), (9, 45), SOFT_HOME + ("hidden zipper",)),
            ProductType("curtains", "blackout curtains", "Home Décor › Window Treatments › Curtains",
                        ("color_home", "size_home"), (15, 90), SOFT_HOME + ("room darkening", "bedroom")),
            ProductType("bar stool", "bar stools", "Furniture › Kitchen › Bar Stools", ("color_home", "pack"), (40, 300),
                        HOME + ("swivel seat", "footrest")),
            ProductType("shoe rack", "shoe rack", "Storage & Organization › Shoe Organizers", ("color_home", "size_home"),
                        (15, 90), HOME + ("stackable",)),
            ProductType("floor lamp", "floor lamp", "Lighting › Floor Lamps", ("color_home", "style_home"), (30, 180),
                        ("led bulb", "dimmable light", "living room", "foot switch", "metal frame")),
        ),
        attributes=("easy clean", "high density", "mid century", "heavy duty", "pet friendly", "dining room",
                    "stainless steel"),
        uses=("small apartments", "the living room", "a home office", "the bedroom", "dorm rooms", "modern homes"),
    ),
    "electronics": Category(
        root="Electronics",
        types=(
            ProductType("wireless earbuds", "wireless earbuds", "Headphones › Earbud Headphones",
                        ("color_tech", "style_tech"), (15, 200), AUDIO + ("charging case", "water resistant")),
            ProductType("bluetooth speaker", "bluetooth speaker", "Portable Audio & Video › Speakers",
                        ("color_tech", "style_tech"), (20, 180), AUDIO + ("water resistant",)),
            ProductType("usb flash drive", "usb flash drive", "Computers & Accessories › Data Storage › USB Drives",
                        ("capacity", "pack"), (5, 60), STORAGE),
            ProductType("phone case", "iphone case", "Cell Phones & Accessories › Cases", ("color_tech", "pack"), (6, 40),
                        ("shock proof", "slim fit", "wireless charging compatible", "raised edges", "kickstand")),
            ProductType("smart watch", "smart watch", "Wearable Technology › Smartwatches", ("color_tech", "style_tech"),
                        (30, 350), GADGET + ("sleep tracking",)),
            ProductType("monitor", "computer monitor", "Computers & Accessories › Monitors", ("size_screen", "style_tech"),
                        (90, 600), ("ultra hd", "high refresh rate", "eye care", "ips panel", "vesa mount")),
            ProductType("hdmi cable", "hdmi cable", "Accessories & Supplies › Cables › HDMI Cables",
                        ("pack", "color_tech"), (5, 30), ("gold plated", "high speed", "braided cord", "4k ultra hd")),
            ProductType("power bank", "portable charger", "Cell Phones & Accessories › Chargers › Power Banks",
                        ("color_tech", "style_tech"), (15, 80), ("fast charging", "usb c", "led display",
                                                               "high capacity", "compact design")),
            ProductType("solid state drive", "external ssd", "Computers & Accessories › Data Storage › External SSDs",
                        ("capacity", "color_tech"), (40, 300), STORAGE),
            ProductType("security camera", "security camera", "Camera & Photo › Surveillance Cameras",
                        ("style_tech", "pack"), (25, 250), GADGET + ("motion detection", "two way audio")),
        ),
        attributes=("easy to carry", "heavy duty", "dual band", "carrying case", "aluminum alloy", "lightweight",
                    "plug and play"),
        uses=("travel", "home theaters", "gaming", "the office", "workouts", "everyday carry"),
    ),
}

BRAND_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cl", "dr",
                "fl", "gr", "kr", "pl", "pr", "st", "tr", "sh", "qu", "th")
BRAND_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea", "y")
BRAND_CODAS = ("", "n", "r", "x", "l", "m", "s", "ne", "ra", "va", "ton", "ly", "ix", "co", "ia")
"""Syllable parts brand names are built from (a seeded, made-up brand list: no real trademarks)."""

TITLE_EXTRAS = ("", "", "Classic", "Value Pack", "by Design", "Premium Edition", "Set", "2024 Model",
                "Original", "with Gift Box")

INSTRUCTION_OPENINGS = ("i need", "i want", "i'm looking for", "i am looking for", "find me", "i would like",
                        "looking for", "get me", "i need to buy", "please find")

DESCRIPTION_TEMPLATES = (
    "{brand} makes this {noun} {a1} and {a2}, ideal for {use}.",
    "Meet the {brand} {noun}: {a1}, {a2} and made to last. Perfect for {use}.",
    "Our {noun} is {a1}. Every piece is checked by hand: {a2}, and ready for {use}.",
    "This {a1} {noun} from {brand} is designed for {use}; customers love that it is {a2}.",
)

BULLET_TEMPLATES = (
    "{A}: this {noun} is {a}, so you can rely on it every day",
    "{A} - carefully made by {brand} with {a} in mind",
    "{A}: tested for {use}",
    "WHAT YOU GET: one {noun} from {brand}, {a}",
)
