"""Invented names, letter prose (English and Spanish) and fake personal details, all seeded.

Every personal value is reserved or fake: 555-01xx phone numbers, example.com/.net mail,
SSNs in the never-issued 9xx area (or the advertising block 987-65-432x), card numbers
from the published test ranges or Luhn-valid numbers with a test prefix.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

FIRST_NAMES = [
    "James", "Michael", "Robert", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Andrew", "Kenneth",
    "Joshua", "Kevin", "Brian", "George", "Timothy", "Ronald", "Jason", "Edward", "Jeffrey", "Ryan",
    "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott",
    "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander", "Patrick", "Frank", "Raymond", "Jack",
    "Dennis", "Jerry", "Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry", "Douglas", "Zachary",
    "Peter", "Kyle", "Noah", "Ethan", "Jeremy", "Walter", "Christian", "Keith", "Roger", "Terry",
    "Austin", "Sean", "Gerald", "Carl", "Harold", "Dylan", "Arthur", "Lawrence", "Jordan",
    "Jesse", "Bryan", "Billy", "Bruce", "Gabriel", "Joe", "Logan", "Alan", "Juan", "Albert",
    "Willie", "Elijah", "Wayne", "Randy", "Vincent", "Mary", "Patricia", "Jennifer", "Linda",
    "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen", "Lisa", "Nancy", "Betty",
    "Sandra", "Ashley", "Kimberly", "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah",
    "Marcus", "Darnell", "Tyrone", "Andre", "Malik", "Jamal", "Terrell", "DeShawn", "Curtis",
    "Luis", "Carlos", "Miguel", "Jorge", "Alejandro", "Ricardo", "Eduardo", "Fernando", "Rafael",
    "Ramon", "Hector", "Roberto", "Pedro", "Manuel", "Javier", "Sergio", "Oscar", "Ruben",
]

SURNAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson",
    "Barnes", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
]

SPANISH_FIRST = ["María", "José", "Ramón", "Begoña", "Íñigo", "Sofía", "Andrés", "Lucía", "Tomás"]

# Terms an admin might ask to redact wherever they appear (a pen pal's workplace, a street
# name from their life, a nickname). Tests register these as watch terms.
WATCH_TERMS = [
    "Maplewood Elementary",
    "Riverside Bakery",
    "Lakeshore Clinic",
    "Greenfield Library",
    "Harbor Street Gym",
    "Saint Agnes Choir",
]

STREETS = [
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Walnut", "Chestnut", "Willow", "Lincoln", "Washington",
    "Jefferson", "Franklin", "Highland", "Park", "Lake", "Hillcrest", "Sunset", "Meadow", "River",
    "Church", "Spring", "Orchard", "Prospect", "Forest", "Madison", "Jackson", "Locust",
]
STREET_TYPES = [
    "Street", "Avenue", "Road", "Drive", "Lane", "Court", "Place", "Blvd", "St.", "Ave.",
]
CITIES = [
    ("Springfield", "IL", "627"), ("Peoria", "IL", "616"), ("Rockford", "IL", "611"),
    ("Fresno", "CA", "937"), ("Bakersfield", "CA", "933"), ("Stockton", "CA", "952"),
    ("Waco", "TX", "767"), ("Amarillo", "TX", "791"), ("Lubbock", "TX", "794"),
    ("Albany", "NY", "122"), ("Utica", "NY", "135"), ("Syracuse", "NY", "132"),
    ("Erie", "PA", "165"), ("Allentown", "PA", "181"), ("Reading", "PA", "196"),
    ("Dayton", "OH", "454"), ("Toledo", "OH", "436"), ("Flint", "MI", "485"),
    ("Macon", "GA", "312"), ("Mobile", "AL", "366"), ("Tulsa", "OK", "741"),
]
AREA_CODES = ["312", "773", "217", "309", "415", "559", "661", "254", "806", "518", "315",
              "814", "610", "937", "419", "810", "478", "251", "918", "213", "718", "412"]

RELATIVES_EN = ["my mom", "my sister", "my brother", "my aunt", "my cousin", "my daughter",
                "my grandmother", "my son", "my uncle", "my friend Tina", "my lawyer"]
RELATIVES_ES = ["mi mamá", "mi hermana", "mi hermano", "mi tía", "mi prima", "mi hija",
                "mi abuela", "mi hijo", "mi tío", "mi amiga Carmen", "mi abogado"]

MONTHS_ES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
             "septiembre", "octubre", "noviembre", "diciembre"]


def person_name(rng: random.Random) -> str:
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(SURNAMES)
    if rng.random() < 0.15:
        return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
    return f"{first} {last}"


def letter_date(rng: random.Random, language: str) -> str:
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(540))
    if language == "spa":
        return f"{day.day} de {MONTHS_ES[day.month - 1]} de {day.year}"
    if rng.random() < 0.3:
        return f"{day.month}/{day.day}/{day.year % 100:02d}"
    return day.strftime("%B ") + f"{day.day}, {day.year}"


# --- fake personal details ---------------------------------------------------------------


def phone(rng: random.Random) -> str:
    area = rng.choice(AREA_CODES)
    line = f"01{rng.randrange(100):02d}"  # 555-0100..0199: reserved for fiction
    fmt = rng.choice([
        "({a}) 555-{l}", "({a}) 555-{l}", "{a}-555-{l}", "{a}-555-{l}", "{a}.555.{l}",
        "+1 {a} 555 {l}", "1-{a}-555-{l}", "{a} 555 {l}",
    ])
    return fmt.format(a=area, l=line)


def ssn(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return f"987-65-432{rng.randrange(10)}"  # the block the SSA reserves for advertising
    if roll < 0.4:
        return "123-45-6789"
    # area 900-999 is never issued as a Social Security number
    return f"9{rng.randrange(100):02d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def email(rng: random.Random, name: str | None = None) -> str:
    first = (name or rng.choice(FIRST_NAMES)).split()[0].lower()
    last = rng.choice(SURNAMES).lower()
    local = rng.choice([f"{first}.{last}", f"{first}{last[0]}", f"{first}_{rng.randrange(10, 99)}",
                        f"{first[0]}{last}{rng.randrange(1, 9)}"])
    return f"{local}@{rng.choice(['example.com', 'example.net', 'mail.example.com'])}"


def street_line(rng: random.Random) -> str:
    line = f"{rng.randrange(12, 9899)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    if rng.random() < 0.3:
        apt = f" Apt {rng.randrange(1, 30)}{rng.choice('ABCD')}"
        line += rng.choice([apt, f" #{rng.randrange(2, 40)}"])
    return line


def city_line(rng: random.Random) -> str:
    city, state, zip3 = rng.choice(CITIES)
    return f"{city}, {state} {zip3}{rng.randrange(100):02d}"


def address(rng: random.Random) -> tuple[str, str]:
    """A US postal address as (street line, "City, ST ZIP")."""
    return street_line(rng), city_line(rng)


def luhn_check_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    digits = "".join(ch for ch in number if ch.isdigit())
    return len(digits) > 1 and luhn_check_digit(digits[:-1]) == int(digits[-1])


TEST_CARDS = ["4111 1111 1111 1111", "4012 8888 8888 1881", "5555 5555 5555 4444",
              "5105 1051 0510 5100", "6011 1111 1111 1117", "4242 4242 4242 4242"]


def card(rng: random.Random) -> str:
    if rng.random() < 0.3:
        number = rng.choice(TEST_CARDS).replace(" ", "")
    else:
        body = rng.choice(["400000", "555555", "601100"]) + "".join(
            str(rng.randrange(10)) for _ in range(9))
        number = body + str(luhn_check_digit(body))
    sep = rng.choice([" ", " ", "-", ""])
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def aba_valid(number: str) -> bool:
    if len(number) != 9 or not number.isdigit():
        return False
    d = [int(c) for c in number]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def routing_number(rng: random.Random) -> str:
    prefix = rng.choice([f"{n:02d}" for n in [*range(1, 13), *range(21, 33)]])
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(6))
    d = [int(c) for c in body]
    partial = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5])
    return body + str((10 - partial % 10) % 10)


def account_number(rng: random.Random) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(rng.randrange(8, 13)))


# --- prose -------------------------------------------------------------------------------

PROSE_EN = [
    "I hope this letter finds you well and that your family is doing good.",
    "Thank you so much for your last letter, it really made my week.",
    "Things are about the same in here, the days are long but I keep busy.",
    "I started a new job in the kitchen, so I get up at four in the morning now.",
    "We finally got some sunshine this week and they let us out to the yard for an hour.",
    "I have been reading a lot lately, mostly westerns and a history book about the Civil War.",
    "My GED class meets on Tuesdays and Thursdays and I am almost done with the math part.",
    "The teacher says I write pretty good essays, which surprised me a little.",
    "It gets loud in the dayroom at night so I try to read with my headphones on.",
    "I been thinking about what you said about gardening, I would like to try that someday.",
    "There is a chaplain here who runs a music group and I joined it last month.",
    "The food has not gotten any better but the cornbread on Sundays is alright.",
    "I walk laps in the yard every morning to keep my head straight.",
    "Please tell me more about your city, I have never been up north.",
    "I saw a picture of the ocean in a magazine and it made me think of your trip.",
    "My cellie is a quiet guy who likes to draw, he did a picture of a horse for me.",
    "I am trying to stay positive and take it one day at a time like you said.",
    "It means a lot to me that someone out there takes the time to write.",
    "Mail call is the best part of the day when there is a letter with my name on it.",
    "I am working on my appeal paperwork with help from the law library clerk.",
    "We had a lockdown for most of last week so I had plenty of time to write.",
    "The commissary ran out of stamps again, so this letter might be a little late.",
    "I finished the book you recommended and I liked the ending a lot.",
    "My daughter turned nine last month and I made her a card with colored pencils.",
    "Some days are harder than others, but your letters help more than you know.",
    "I started doing push ups and sit ups every night before count.",
    "There is a new program where we train dogs for people with disabilities.",
    "I put my name on the list for the welding class, hopefully I get in this spring.",
    "The weather turned cold and the heat in our unit does not work too good.",
    "I am learning to play chess from an older man on my tier, he is very patient.",
    "What kind of music do you like to listen to when you are driving?",
    "Do you still go hiking on the weekends like you told me?",
    "I would like to hear about the book club you mentioned.",
    "I wrote a short poem last week, maybe I will send it next time.",
    "My mom says hello and thanks you for being a friend to me.",
    "Sorry my handwriting is not the best, the pens they sell here skip a lot.",
    "I have two years left before my board date, so I am trying to stay out of trouble.",
    "Tell me about your garden, did the tomatoes come in this year?",
]

PROSE_ES = [
    "Espero que al recibir esta carta te encuentres muy bien junto a tu familia.",
    "Muchas gracias por tu última carta, me alegró toda la semana.",
    "Aquí todo sigue más o menos igual, los días son largos pero me mantengo ocupado.",
    "Empecé a trabajar en la cocina y ahora me levanto a las cuatro de la mañana.",
    "Esta semana por fin salió el sol y nos dejaron salir al patio una hora.",
    "He leído mucho últimamente, sobre todo novelas y un libro de historia de México.",
    "La clase de inglés es los martes y los jueves, y ya casi termino el primer nivel.",
    "El maestro dice que escribo bien, y eso me sorprendió un poco.",
    "En la noche hay mucho ruido, así que leo con los audífonos puestos.",
    "Pensé mucho en lo que me dijiste del jardín, algún día quiero sembrar algo.",
    "Hay un capellán que tiene un grupo de música y me uní el mes pasado.",
    "La comida no ha mejorado, pero el pan de los domingos no está tan mal.",
    "Camino vueltas en el patio cada mañana para despejar la cabeza.",
    "Cuéntame más de tu ciudad, nunca he estado en el norte.",
    "Mi compañero de celda es un señor tranquilo que dibuja muy bonito.",
    "Trato de ser positivo y vivir un día a la vez, como tú me dijiste.",
    "Significa mucho para mí que alguien allá afuera se tome el tiempo de escribirme.",
    "La hora del correo es lo mejor del día cuando llega una carta con mi nombre.",
    "Estoy preparando los papeles de mi apelación con ayuda de la biblioteca legal.",
    "La semana pasada estuvimos encerrados casi todos los días, así que tuve tiempo de escribir.",
    "Se acabaron las estampillas en la tienda, por eso esta carta quizás llegue tarde.",
    "Terminé el libro que me recomendaste y me gustó mucho el final.",
    "Mi niña cumplió nueve años y le hice una tarjeta con lápices de colores.",
    "Hay días más difíciles que otros, pero tus cartas me ayudan más de lo que crees.",
    "Ahora hago lagartijas y abdominales cada noche antes del conteo.",
    "Me apunté para la clase de soldadura, ojalá me acepten esta primavera.",
    "Un señor mayor de mi piso me está enseñando a jugar ajedrez, tiene mucha paciencia.",
    "¿Qué música te gusta escuchar cuando vas manejando?",
    "¿Todavía sales a caminar al cerro los fines de semana?",
    "Escribí un poema corto, a lo mejor te lo mando la próxima vez.",
    "Mi mamá te manda saludos y te agradece por ser mi amiga.",
    "Perdón por mi letra, las plumas que venden aquí fallan mucho.",
    "Me faltan dos años para mi audiencia, así que trato de no meterme en problemas.",
    "¿Cómo te fue con el jardín? ¿Salieron los jitomates este año?",
    "Mañana es el cumpleaños de mi abuela, que en paz descanse, y la extraño mucho.",
    "A veces sueño con ir a pescar otra vez con mi papá en el río.",
]

# Sentences with slots, filled at random, so three pages of prose rarely repeat themselves.
SLOT_PROSE_EN = [
    "On {day} we had {food} for dinner and it was better than usual.",
    "I read {book} last month and I keep thinking about it.",
    "The guys on my tier play {game} every {day} night and I usually lose.",
    "It has been {n} weeks since I got a visit, so your letters mean a lot.",
    "I am saving up for a radio from commissary, it costs about {n} dollars.",
    "{Relative} wrote me last week and said the dog had puppies.",
    "My favorite season is {season} because the yard smells like cut grass.",
    "Someday I want to work as a {job} and maybe open my own shop.",
    "We watched a {game} game on the dayroom TV and everybody was yelling.",
    "I drew a {animal} for you, I will send it when I get more envelopes.",
    "The library cart only comes on {day}, so I read everything twice.",
    "I miss {food} from home more than almost anything else.",
    "{Relative} says the weather back home has been {weather} all month.",
    "I have been doing {hobby} to pass the time and I am getting better at it.",
    "Count time is at {hour} so I am writing this fast before lights out.",
    "My counselor says I can take a {job} class next {season} if there is room.",
]
SLOT_PROSE_ES = [
    "El {day} nos dieron {food} de cena y estaba mejor que de costumbre.",
    "Leí {book} el mes pasado y todavía pienso en esa historia.",
    "Los del piso juegan {game} cada {day} en la noche y casi siempre pierdo.",
    "Ya van {n} semanas sin visita, por eso tus cartas valen tanto para mí.",
    "Estoy ahorrando para un radio de la tienda, cuesta como {n} dólares.",
    "{Relative} me escribió y me contó que la perrita tuvo cachorros.",
    "Mi estación favorita es {season} porque el patio huele a pasto recién cortado.",
    "Algún día quiero trabajar de {job} y quizás abrir mi propio taller.",
    "Extraño la comida de mi casa, sobre todo {food} los domingos.",
    "{Relative} dice que allá el clima ha estado {weather} todo el mes.",
    "El conteo es a las {hour}, así que escribo rápido antes de que apaguen la luz.",
    "He estado {hobby} para pasar el tiempo y cada vez me sale mejor.",
]
SLOTS_EN = {
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "food": ["chili", "fried chicken", "spaghetti", "tacos", "pancakes", "meatloaf", "pizza",
             "my grandma's gumbo", "peach cobbler", "tamales"],
    "book": ["a Louis L'Amour western", "Of Mice and Men", "a book about the Civil War",
             "The Count of Monte Cristo", "a mystery novel", "a book on carpentry"],
    "game": ["spades", "dominoes", "chess", "basketball", "football", "checkers"],
    "n": ["two", "three", "four", "six", "eight", "twelve", "twenty", "thirty"],
    "animal": ["dog", "horse", "eagle", "cat", "deer", "wolf"],
    "season": ["spring", "summer", "fall", "winter"],
    "job": ["welder", "mechanic", "barber", "cook", "electrician", "carpenter", "plumber"],
    "weather": ["rainy", "hot", "cold", "windy", "nice"],
    "hobby": ["drawing", "crocheting", "writing poems", "origami", "studying Spanish",
              "working out"],
    "hour": ["nine", "ten", "eleven", "nine thirty"],
    "Relative": ["My mom", "My sister", "My cousin", "My aunt", "My brother", "My grandmother"],
}
SLOTS_ES = {
    "day": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
    "food": ["pozole", "enchiladas", "arroz con pollo", "tamales", "frijoles charros",
             "pan dulce", "menudo"],
    "book": ["Cien años de soledad", "Pedro Páramo", "una novela de misterio",
             "un libro de historia", "El principito"],
    "game": ["dominó", "ajedrez", "baraja", "básquetbol", "fútbol"],
    "n": ["dos", "tres", "cuatro", "seis", "ocho", "doce", "veinte", "treinta"],
    "season": ["la primavera", "el verano", "el otoño", "el invierno"],
    "job": ["soldador", "mecánico", "peluquero", "cocinero", "electricista", "carpintero"],
    "weather": ["lluvioso", "caluroso", "frío", "bonito"],
    "hobby": ["dibujando", "tejiendo", "escribiendo poemas", "estudiando inglés",
              "haciendo ejercicio"],
    "hour": ["nueve", "diez", "once"],
    "Relative": ["Mi mamá", "Mi hermana", "Mi prima", "Mi tía", "Mi hermano", "Mi abuela"],
}

GREETINGS_EN = ["Dear {n},", "Hi {n},", "Hello {n},", "Dear friend,", "Hey {n},"]
GREETINGS_ES = ["Querida {n}:", "Hola {n}:", "Estimada {n}:", "Querido amigo:", "Hola, {n}:"]
CLOSINGS_EN = ["Your friend,", "Take care,", "Sincerely,", "Talk to you soon,", "Respectfully,",
               "God bless,"]
CLOSINGS_ES = ["Tu amigo,", "Con cariño,", "Saludos,", "Atentamente,", "Que Dios te bendiga,"]
GREETING_NAMES = ["Sam", "Maria", "Karen", "Tom", "Alex", "Jordan", "Beth", "Chris", "Lucía",
                  "Pat", "Dana", "Robin"]

# Sentences that carry a planted detail. "{v}" is where the value goes; a template may carry
# two values for bank details ("{v}" routing, "{w}" account).
DETAIL_TEMPLATES_EN = {
    "phone": [
        "You can call {rel} at {v} if you ever want to talk.",
        "If anything happens please call {rel} at {v} any time.",
        "{Rel} got a new number, it is {v} now.",
        "My people can be reached at {v} on weekends.",
    ],
    "email": [
        "{Rel} has email now, it is {v} if you want to write there too.",
        "You can send the pictures to {v} and they will get printed for me.",
    ],
    "ssn": [
        "The job program needs my social, it is {v}, can you help me fill the form?",
        "My SSN is {v} in case the paperwork asks for it.",
    ],
    "card": [
        "{Rel} tried to put money on my books with the card {v} but it did not go through.",
        "Can you check if the card number {v} still works for the phone account?",
    ],
    "bank": [
        "To send money use routing number {v} and account {w} at the credit union.",
        "The bank info is routing {v}, account number {w}.",
    ],
    "inmate_number": [
        "My friend here (number {v}) says hello to you.",
        "Can you find a pen pal for my bunkie, his number is {v}?",
        "Please tell the program that {v} wants to join too.",
    ],
    "watch_term": [
        "I was happy to hear about your job at {v}, it sounds fun.",
        "Tell me more about {v}, do you still go every week?",
    ],
    "address": [
        "Please send the book to {rel} at {v} since they hold packages here.",
        "{Rel} moved to {v} last month.",
    ],
}
DETAIL_TEMPLATES_ES = {
    "phone": [
        "Puedes llamar a {rel} al {v} si algún día quieres platicar.",
        "Si pasa algo, por favor llama a {rel} al {v} a cualquier hora.",
        "{Rel} tiene número nuevo, ahora es {v}.",
    ],
    "email": [
        "{Rel} ya tiene correo, es {v} por si quieres escribir también.",
        "Puedes mandar las fotos a {v} y allá me las imprimen.",
    ],
    "ssn": [
        "El programa de trabajo pide mi seguro social, es {v}, ¿me ayudas con la forma?",
        "Mi número de seguro social es {v} por si lo piden los papeles.",
    ],
    "card": [
        "{Rel} quiso depositarme con la tarjeta {v} pero no pasó.",
        "¿Puedes revisar si la tarjeta {v} todavía sirve para la cuenta del teléfono?",
    ],
    "bank": [
        "Para mandar dinero usa el número de ruta {v} y la cuenta {w} del banco.",
        "Los datos del banco son ruta {v}, cuenta número {w}.",
    ],
    "inmate_number": [
        "Mi amigo de aquí (número {v}) te manda saludos.",
        "¿Le puedes buscar amigo por carta a mi compañero? Su número es {v}.",
    ],
    "watch_term": [
        "Me dio gusto saber de tu trabajo en {v}, suena divertido.",
        "Cuéntame más de {v}, ¿todavía vas cada semana?",
    ],
    "address": [
        "Por favor manda el libro a {rel} a {v} porque aquí no aceptan paquetes.",
        "{Rel} se mudó a {v} el mes pasado.",
    ],
}
ADDRESS_BLOCK_INTRO_EN = ["You can write to {rel} at:", "Here is the address for {rel}:",
                          "Send it to {rel} at this address:"]
ADDRESS_BLOCK_INTRO_ES = ["Le puedes escribir a {rel} a:", "Esta es la dirección de {rel}:"]


def prose(language: str) -> list[str]:
    """Sentences, some with {slots}: pass each through `fill_slots`."""
    return (PROSE_ES + SLOT_PROSE_ES) if language == "spa" else (PROSE_EN + SLOT_PROSE_EN)


def fill_slots(sentence: str, rng: random.Random, language: str) -> str:
    slots = SLOTS_ES if language == "spa" else SLOTS_EN
    return re.sub(r"\{(\w+)\}", lambda m: rng.choice(slots[m.group(1)]), sentence)


def detail_templates(language: str) -> dict[str, list[str]]:
    return DETAIL_TEMPLATES_ES if language == "spa" else DETAIL_TEMPLATES_EN


def relatives(language: str) -> list[str]:
    return RELATIVES_ES if language == "spa" else RELATIVES_EN
