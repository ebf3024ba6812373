/* lexicon: the fixed word lists of the synthetic world (see lexicon.h). */
#include "datasets/lexicon.h"

#include <string.h>

#include "datasets/text.h"

const char *const lex_rel_name[REL_N] = {"kind", "color", "home", "food", "sound"};

const char *const lex_rel_values[REL_N][LEX_REL_VALUES] = {
    {"bird", "fish", "insect", "snake", "lizard", "frog", "spider", "worm", "crab", "bat", "mouse", "beetle"},
    {"red", "blue", "green", "yellow", "white", "black", "brown", "gray", "orange", "purple", "pink", "silver"},
    {"forest", "river", "desert", "mountain", "cave", "lake", "meadow", "swamp", "beach", "valley", "island",
     "jungle"},
    {"seeds", "leaves", "roots", "berries", "nuts", "grass", "moss", "bark", "mushrooms", "flowers", "honey",
     "algae"},
    {"buzz", "hiss", "roar", "chirp", "croak", "hum", "growl", "squeak", "howl", "click", "whistle", "purr"},
};

const char *const lex_traits[LEX_N_TRAITS] = {
    "has wings",  "has fur",   "has scales",   "has feathers", "has claws",          "has horns",
    "has spots",  "has stripes", "lays eggs",  "eats meat",    "eats plants",        "can swim",
    "can fly",    "can climb", "can dig",      "can jump",     "sheds skin",         "hunts alone",
    "lives long", "migrates yearly", "sleeps underground", "glows faintly", "stores food", "builds nests",
};

const char *const lex_materials[LEX_N_MATERIALS] = {"wax",   "ice",   "iron",  "wood",  "glass",  "clay",
                                                    "salt",  "sugar", "paper", "stone", "butter", "rubber"};
const char *const lex_treatments[LEX_N_TREATMENTS] = {"heated", "frozen", "dropped", "soaked", "crushed"};
const char *const lex_effects[LEX_N_EFFECTS] = {"it melts",  "it burns",     "it breaks", "it bends",
                                                "it cracks", "it dissolves", "it floats", "it sinks",
                                                "it rusts",  "it shrinks",   "it swells", "it hardens"};
const char *const lex_objects[LEX_N_OBJECTS] = {
    "candle", "spoon", "cup",    "key",  "bowl",   "plate", "chair", "table", "box",  "ring",
    "coin",   "doll",  "ball",   "bottle", "brick", "button", "card", "comb", "crown", "fork",
    "hat",    "jar",   "kettle", "lamp", "lock",   "mask",  "mirror", "mug",  "pan",  "pipe",
    "pot",    "shoe",  "statue", "stick", "tile",  "toy",   "tray",  "vase",  "wheel", "bell",
};

const char *const lex_uses[LEX_N_USES] = {"cut",   "sweep",  "tie",     "lift",  "scrub", "dry",
                                          "paint", "measure", "carry",  "polish", "sharpen", "hang",
                                          "fold",  "glue",   "stitch",  "grind"};

const char *const lex_fn_verbs[LEX_N_FN_VERBS][2] = {
    {"send", "mail"},   {"delete", "erase"}, {"find", "search"},  {"open", "launch"}, {"close", "shut"},
    {"share", "post"},  {"save", "store"},   {"create", "make"},  {"book", "reserve"}, {"check", "view"},
    {"call", "phone"},  {"play", "start"},   {"stop", "halt"},    {"read", "scan"},
};

const char *const lex_fn_objects[LEX_N_FN_OBJECTS][2] = {
    {"message", "note"},  {"photo", "picture"},     {"song", "track"},    {"alarm", "buzzer"},
    {"contact", "friend"}, {"file", "document"},    {"video", "clip"},    {"email", "letter"},
    {"meeting", "appointment"}, {"taxi", "cab"},    {"flight", "plane"},  {"map", "atlas"},
    {"playlist", "mixtape"}, {"calendar", "agenda"}, {"account", "profile"}, {"ticket", "pass"},
};

/* verbs: 0 send 1 delete 2 find 3 open 4 close 5 share 6 save 7 create 8 book 9 check 10 call 11 play 12 stop
 * 13 read; objects: 0 message 1 photo 2 song 3 alarm 4 contact 5 file 6 video 7 email 8 meeting 9 taxi
 * 10 flight 11 map 12 playlist 13 calendar 14 account 15 ticket */
const unsigned char lex_functions[LEX_N_FUNCTIONS][2] = {
    {0, 0},  {0, 1},  {0, 5},  {0, 6},  {0, 7},  {0, 15},                          /* send */
    {1, 0},  {1, 1},  {1, 3},  {1, 4},  {1, 5},  {1, 6},  {1, 7}, {1, 8}, {1, 12}, /* delete */
    {2, 4},  {2, 5},  {2, 2},  {2, 1},  {2, 10}, {2, 9},                           /* find */
    {3, 5},  {3, 11}, {3, 13}, {3, 7},  {3, 14}, {3, 12},                          /* open */
    {4, 5},  {4, 11}, {4, 14},                                                     /* close */
    {5, 1},  {5, 6},  {5, 2},  {5, 5},  {5, 11}, {5, 12},                          /* share */
    {6, 1},  {6, 5},  {6, 4},  {6, 6},  {6, 2},                                    /* save */
    {7, 4},  {7, 3},  {7, 8},  {7, 12}, {7, 14},                                   /* create */
    {8, 9},  {8, 10}, {8, 15}, {8, 8},                                             /* book */
    {9, 7},  {9, 13}, {9, 10}, {9, 14}, {9, 0},                                    /* check */
    {10, 4}, {10, 9},                                                              /* call */
    {11, 2}, {11, 6}, {11, 12},                                                    /* play */
    {12, 3}, {12, 2},                                                              /* stop */
    {13, 0}, {13, 7},                                                              /* read */
};

const char *const lex_categories[LEX_N_CATEGORIES][2] = {
    {"weather", "forecast"},     {"music", "melodies"},       {"navigation", "route"},
    {"banking", "deposits"},     {"camera", "snapshots"},     {"messaging", "chats"},
    {"chess", "checkmate"},      {"recipes", "cooking"},      {"fitness", "workouts"},
    {"news", "headlines"},       {"shopping", "groceries"},   {"travel", "vacation"},
    {"dictionary", "definitions"}, {"calculator", "arithmetic"}, {"clock", "stopwatch"},
    {"podcasts", "episodes"},    {"radio", "stations"},       {"books", "novels"},
    {"comics", "cartoons"},      {"movies", "cinema"},        {"taxes", "refunds"},
    {"stocks", "investing"},     {"crypto", "bitcoin"},       {"dating", "romance"},
    {"pets", "puppies"},         {"gardening", "seedlings"},  {"yoga", "stretching"},
    {"running", "jogging"},      {"cycling", "bikes"},        {"hiking", "trails"},
    {"fishing", "bait"},         {"golf", "putting"},         {"football", "soccer"},
    {"tennis", "rackets"},       {"translation", "languages"}, {"math", "algebra"},
    {"astronomy", "stars"},      {"medicine", "symptoms"},    {"pharmacy", "pills"},
    {"insurance", "claims"},     {"parking", "garage"},       {"fuel", "gasoline"},
    {"trains", "railway"},       {"buses", "transit"},        {"hotels", "lodging"},
    {"rentals", "apartments"},   {"jobs", "careers"},         {"school", "classes"},
    {"homework", "assignments"}, {"painting", "canvas"},      {"drawing", "sketches"},
    {"karaoke", "singing"},      {"dance", "choreography"},   {"lottery", "jackpot"},
    {"puzzles", "riddles"},      {"sudoku", "grids"},         {"crosswords", "clues"},
    {"trivia", "quizzes"},       {"meditation", "mindfulness"}, {"sleep", "insomnia"},
    {"diet", "calories"},        {"budget", "expenses"},      {"loans", "mortgage"},
    {"charity", "donations"},    {"voting", "elections"},     {"emergency", "ambulance"},
    {"flashlight", "torch"},     {"compass", "north"},        {"scanner", "barcodes"},
    {"printer", "printouts"},    {"wallet", "payments"},      {"wallpaper", "backgrounds"},
    {"ringtones", "chimes"},     {"stickers", "decals"},      {"library", "borrowing"},
    {"museum", "exhibits"},      {"zoo", "safari"},           {"concerts", "gigs"},
    {"theater", "drama"},        {"sports", "scores"},        {"baby", "diapers"},
    {"cars", "vehicles"},        {"housing", "houses"},       {"fashion", "clothing"},
    {"makeup", "cosmetics"},     {"salon", "haircut"},        {"tattoo", "ink"},
    {"laundry", "washing"},      {"chores", "cleaning"},      {"recycling", "waste"},
    {"photography", "lenses"},   {"boating", "sailing"},      {"camping", "tents"},
    {"skiing", "slopes"},        {"surfing", "waves"},        {"bowling", "pins"},
};

const char *const lex_people[LEX_N_PEOPLE] = {
    "anna", "ben",  "carl",  "dora",  "emma",  "finn",  "gina", "hugo",  "iris",  "jack",
    "kate", "leo",  "mia",   "nora",  "omar",  "paul",  "rosa", "sam",   "tina",  "uma",
    "vera", "wes",  "yara",  "zack",  "alma",  "bruno", "cleo", "dante", "elsa",  "felix",
    "greta", "hans", "ivy",  "jonas", "karl",  "lena",  "marco", "nina", "oscar", "pia",
};

const char *const lex_prel_values[LEX_N_PREL][LEX_PREL_VALUES] = {
    {"oakton", "millbrook", "ashford", "bayview", "cedarville", "dunmore", "elmwood", "fairview", "glenwood",
     "hillcrest", "lakeside", "maplewood"},
    {"baker", "farmer", "teacher", "nurse", "pilot", "painter", "tailor", "miner", "sailor", "cook", "guard",
     "driver"},
    {"bread", "soup", "rice", "cheese", "apples", "pasta", "cake", "beans", "pie", "salad", "noodles", "plums"},
    {"dog", "cat", "parrot", "rabbit", "hamster", "turtle", "goat", "pony", "goose", "duck", "lamb", "ferret"},
    {"piano", "violin", "guitar", "cello", "harp", "trumpet", "banjo", "oboe", "tuba", "clarinet", "organ",
     "accordion"},
};

const char *const lex_fillers[LEX_N_FILLERS] = {
    "the sun was bright that morning .",
    "a bus stopped near the old bridge .",
    "many people walked in the park .",
    "the market opened early on monday .",
    "a cold wind blew across the square .",
    "the school bell rang at noon .",
    "there was a small fair in town .",
    "the road to the hills was long .",
    "children played near the fountain .",
    "the shop closed late that day .",
    "a light rain fell in the evening .",
    "the old tower was painted last year .",
    "neighbors met for tea on sunday .",
    "the harbor was quiet at dawn .",
    "a parade went down the main street .",
    "the garden gate was left unlocked .",
    "snow covered the roofs in winter .",
    "the bridge was repaired in spring .",
    "a new shop opened on the corner .",
    "the stream was high after the storm .",
    "people gathered for the spring festival .",
    "the trees swayed in the wind .",
    "the sky turned dark before the storm .",
    "the summer was warm and calm .",
};

static int in_entry(const char *entry, const char *word) {
    size_t n = strlen(word);
    for (const char *p = entry; *p;) {
        const char *q = strchr(p, ' ');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == n && !strncmp(p, word, n)) return 1;
        if (!q) break;
        p = q + 1;
    }
    return 0;
}

static int in_list(const char *const *list, int n, const char *word) {
    for (int i = 0; i < n; i++)
        if (in_entry(list[i], word)) return 1;
    return 0;
}

int lex_contains(const char *word) {
    for (int r = 0; r < REL_N; r++)
        if (in_list(lex_rel_values[r], LEX_REL_VALUES, word) || !strcmp(lex_rel_name[r], word)) return 1;
    if (in_list(lex_traits, LEX_N_TRAITS, word) || in_list(lex_materials, LEX_N_MATERIALS, word) ||
        in_list(lex_treatments, LEX_N_TREATMENTS, word) || in_list(lex_effects, LEX_N_EFFECTS, word) ||
        in_list(lex_objects, LEX_N_OBJECTS, word) || in_list(lex_uses, LEX_N_USES, word) ||
        in_list(lex_people, LEX_N_PEOPLE, word) || in_list(lex_fillers, LEX_N_FILLERS, word))
        return 1;
    for (int i = 0; i < LEX_N_FN_VERBS; i++)
        if (in_list(lex_fn_verbs[i], 2, word)) return 1;
    for (int i = 0; i < LEX_N_FN_OBJECTS; i++)
        if (in_list(lex_fn_objects[i], 2, word)) return 1;
    for (int i = 0; i < LEX_N_CATEGORIES; i++)
        if (in_list(lex_categories[i], 2, word)) return 1;
    for (int i = 0; i < LEX_N_PREL; i++)
        if (in_list(lex_prel_values[i], LEX_PREL_VALUES, word)) return 1;
    return 0;
}

static void add_list(Text *out, const char *const *list, int n) {
    for (int i = 0; i < n; i++) text_add(out, list[i]);
}

void lex_all_words(Text *out) {
    for (int r = 0; r < REL_N; r++) {
        text_add(out, lex_rel_name[r]);
        add_list(out, lex_rel_values[r], LEX_REL_VALUES);
    }
    add_list(out, lex_traits, LEX_N_TRAITS);
    add_list(out, lex_materials, LEX_N_MATERIALS);
    add_list(out, lex_treatments, LEX_N_TREATMENTS);
    add_list(out, lex_effects, LEX_N_EFFECTS);
    add_list(out, lex_objects, LEX_N_OBJECTS);
    add_list(out, lex_uses, LEX_N_USES);
    for (int i = 0; i < LEX_N_FN_VERBS; i++) add_list(out, lex_fn_verbs[i], 2);
    for (int i = 0; i < LEX_N_FN_OBJECTS; i++) add_list(out, lex_fn_objects[i], 2);
    for (int i = 0; i < LEX_N_CATEGORIES; i++) add_list(out, lex_categories[i], 2);
    add_list(out, lex_people, LEX_N_PEOPLE);
    for (int i = 0; i < LEX_N_PREL; i++) add_list(out, lex_prel_values[i], LEX_PREL_VALUES);
    add_list(out, lex_fillers, LEX_N_FILLERS);
}
