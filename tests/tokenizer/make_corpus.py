#!/usr/bin/env python3
"""Writes tests/tokenizer/corpus.json: the strings plm's tokenizer is checked on.

Each string is tokenized by an independent reference (make_goldens.mjs) and by
plm; the ids must agree for every one. The corpus aims at the places where a
hand-written pre-tokenizer and BPE can go wrong: every regex alternative and
its backtracking, Unicode classes far from ASCII, numbers of every length,
contractions in every case, whitespace runs and line breaks, words longer than
plm's small-word buffer, and special tokens inside text.

Avoided on purpose (the reference's JavaScript regex differs from llama.cpp
there, not plm): U+0085 and U+FEFF (JS \\s disagrees with White_Space), U+017F
and U+212A (Unicode case folding in (?i:...)), code points newer than Unicode
15.0, and unpaired surrogates (not representable in the JSON/JS strings).
"""
import json
import os
import random

C = []


def add(*xs):
    C.extend(xs)


# English prose
add(
    "The robot sorted 412 screws.",
    "Hello world",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
    "PLM is a small language model built for edge devices such as phones, single-board computers and robots.",
    "She sells sea shells by the sea shore; the shells she sells are surely seashells.",
    "A tokenizer turns text into numbers, and a detokenizer turns the numbers back into text.",
    "Mr. Smith went to Washington on Tuesday, Sept. 3rd, and met with Dr. Jones at 10 a.m.",
    "\"Quoted speech,\" he said, \"is common in stories.\"",
    "Well... maybe. Or maybe not?! Who knows.",
    "e.g. i.e. etc. vs. cf. al.",
    "UPPERCASE WORDS SHOUTING LOUDLY",
    "camelCaseIdentifier and PascalCaseType and snake_case_name and kebab-case-name",
    "Don't stop believing; hold on to that feeling.",
    "Supercalifragilisticexpialidocious is a very long word indeed.",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "The year 1984 was not like 1984.",
    "Item #1: apples (3), pears (12), plums (100).",
    "50% off! Only $19.99 — today only.",
    "Questions? Email us at support@example.com or call +1 (555) 123-4567.",
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer",
    "Once upon a time, there was a little robot who wanted to learn how to paint.",
    "Numbers like 3.14159 and 2.71828 appear everywhere in mathematics.",
    "a",
    "I",
    " ",
    "ab",
    "The end.",
    "hello hello hello hello hello hello hello hello",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.",
    "What's the difference between a tokenizer and a lexer? Context, mostly.",
    "Café au lait, naïve façade, coöperate, résumé, jalapeño, Zürich, Øresund, Ångström.",
    "über straße groß Maß Fuß",
    "Mañana será otro día; ¿verdad? ¡Claro que sí!",
    "L'homme qu'il a vu n'était pas là.",
    "Dziękuję bardzo, że przyszliście.",
    "İstanbul'da ılık bir gün; şehir çok güzel.",
    "Việt Nam là một đất nước xinh đẹp.",
)

# Code in several languages
add(
    "int main(int argc, char** argv) {\n    return 0;\n}\n",
    "#include <vector>\nstd::vector<int> v{1, 2, 3};\nfor (auto& x : v) x *= 2;",
    "template <class T> constexpr T sq(T x) noexcept { return x * x; }",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "import numpy as np\nx = np.arange(10)**2\nprint(f\"{x.sum():,}\")",
    "class Foo(Bar):\n\tdef __init__(self):\n\t\tsuper().__init__()\n",
    "const add = (a, b) => a + b;\nconsole.log(add(2, 3));",
    "function f() { return this?.x ?? 42; }",
    "let s = `template ${literal} string`;",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
    "impl<'a> Iterator for Iter<'a> { type Item = &'a str; }",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
    "<!DOCTYPE html>\n<html><head><title>Test</title></head><body><p class=\"x\">Hi</p></body></html>",
    "#!/bin/sh\nset -eu\nfor f in *.txt; do echo \"$f\"; done\n",
    "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "name: plm\nversion: 0.1.0\ndependencies:\n  - xsimd\n  - doctest\n",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=1;c>>=2;d&=e|f^g;",
    "if (a != b && c == d || !e) { x = y ? z : w; }",
    "public static void main(String[] args) { System.out.println(\"Hello\"); }",
    "    indented code line with four spaces",
    "\t\ttab indented line",
    "// comment with trailing spaces   \n/* block */",
    "#define PLM_TRY(x) do { if (!(x)) return; } while (0)",
    "a = [i for i in range(100) if i % 3 == 0]",
    "std::cout << \"value: \" << std::setw(8) << value << '\\n';",
    "$ ls -la /usr/local/bin | grep -E '^-rwx' > out.txt 2>&1",
    "regex: ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
    "0x7FFFFFFF 0b1010 0o755 1e-9 6.02e23 3.0f 42u 7ULL",
    "__init__ __name__ == '__main__'",
    "matrix[i][j] += a[i][k] * b[k][j];",
    "λx.λy.x (λf.f f)",
)

# Numbers of every length
digits = "31415926535897932384626433832795028841971"
for n in range(1, 31):
    C.append(digits[:n])
add(
    "0", "00", "007", "-1", "+1", "-0.5", "1,000", "1,000,000", "1.000.000,50", "12,345.67",
    "3.14", "1/2", "3/4 cup", "2^10 = 1024", "1e10", "1E-5", "10%", "99.9%", "#42", "№7",
    "1st 2nd 3rd 4th 21st 102nd", "version 1.2.3-rc.4+build.5", "IPv4 192.168.0.1", "v2.0",
    "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "１２３４５", "Ⅻ ⅷ", "½ ¾ ⅓", "² ³ ¹", "①②③",
    "phone: 555-0199, zip: 90210-1234",
)

# Dates and times
add(
    "2024-01-15", "2024-01-15T13:45:30Z", "2024-01-15T13:45:30.123+05:30", "15/01/2024", "01/15/2024",
    "January 15, 2024", "15 Jan 2024", "Mon, 15 Jan 2024 13:45:30 GMT", "13:45", "1:45 PM", "12:00:00.000",
    "2024年1月15日", "2024년 1월 15일", "Q3 FY2023", "the 1990s and '80s",
)

# URLs, paths, e-mail
add(
    "https://www.example.com/path/to/page?query=1&other=two#section",
    "http://localhost:8080/api/v1/users/42",
    "ftp://files.example.org/pub/archive.tar.gz",
    "See https://en.wikipedia.org/wiki/Byte_pair_encoding for details.",
    "mailto:someone@example.com",
    "file:///home/user/docs/report%20final.pdf",
    "C:\\Program Files\\PLM\\plm.exe",
    "/usr/share/unicode/UnicodeData.txt",
    "~/.config/plm/settings.json",
    "user.name+tag@sub.domain.co.uk",
    "https://example.com/search?q=%E4%B8%AD%E6%96%87&lang=zh",
    "git@github.com:owner/repo.git",
    "www.example.org",
    "[link](https://example.com) and ![img](a.png)",
)

# Chinese
add(
    "你好，世界！",
    "我爱自然语言处理。",
    "今天天气很好，我们去公园散步吧。",
    "机器人把螺丝按大小分类，然后按长度分类。",
    "中华人民共和国成立于1949年10月1日。",
    "这是一个测试句子，包含标点符号：逗号、句号。问号？感叹号！",
    "模型的参数量为18亿，上下文长度为4096。",
    "他说：“我们明天见。”",
    "《红楼梦》是中国古典小说的巅峰之作。",
    "人工智能（AI）正在改变世界。",
    "一二三四五六七八九十百千万亿",
    "繁體中文與簡體中文",
    "Python是一种编程语言，C++也是。",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "深度学习模型需要大量的数据和计算资源来进行训练，而边缘设备上的推理则需要更小、更快的模型，这正是小型语言模型的意义所在。",
)

# Japanese
add(
    "こんにちは世界",
    "日本語のテキストをトークン化します。",
    "カタカナとひらがなと漢字",
    "東京は日本の首都です。",
    "ロボットはネジを大きさで分けました。",
    "ｶﾀｶﾅ ﾊﾝｶｸ",
    "「こんにちは」と彼は言った。",
    "私の名前は田中です。よろしくお願いします！",
    "コンピューター・サイエンス",
    "吾輩は猫である。名前はまだ無い。",
    "ー〜・",
)

# Korean
add(
    "안녕하세요 세계",
    "한국어 텍스트를 토큰화합니다.",
    "로봇이 나사를 크기별로 분류했습니다.",
    "서울은 대한민국의 수도입니다.",
    "감사합니다! 좋은 하루 되세요.",
    "ㄱㄴㄷㄹㅁㅂㅅ ㅏㅑㅓㅕ",
    "한글과 漢字 혼용",
    "나는 학생이고, 너는 선생님이다.",
    "아버지가방에들어가신다",
    "대한민국 헌법 제1조 ①항",
)

# Arabic, Hebrew, Hindi, Cyrillic, Greek, Thai, others
add(
    "مرحبا بالعالم",
    "اللغة العربية جميلة جدا.",
    "ذهب الروبوت إلى الورشة في الصباح.",
    "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ",
    "العدد ١٢٣ والعدد 456",
    "שלום עולם",
    "עִבְרִית עם ניקוד",
    "नमस्ते दुनिया",
    "हिन्दी भारत की राजभाषा है।",
    "रोबोट ने पेंचों को आकार के अनुसार छाँटा।",
    "क्षत्रिय ज्ञान श्री",
    "Привет, мир!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "ЗАГЛАВНЫЕ БУКВЫ и строчные буквы",
    "Україна, Київ, їжак, ґанок",
    "Здравствуйте! Как дела? Всё хорошо.",
    "Македонија, Србија, Ђорђе",
    "Γειά σου Κόσμε",
    "Ελληνικά: αβγδεζηθικλμνξοπρστυφχψω ΑΒΓΔ",
    "สวัสดีชาวโลก",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "ሰላም ዓለም",
    "Բարեւ աշխարհ",
    "გამარჯობა მსოფლიო",
    "வணக்கம் உலகம்",
    "ওহে বিশ্ব",
    "Sawubona Mhlaba",
    "Mixed: English, русский, 中文, العربية, हिन्दी in one line.",
)

# Emoji: plain, skin tones, ZWJ sequences, flags, keycaps, variation selectors
add(
    "😀",
    "I love pizza 🍕🍕🍕!",
    "👍🏽 thumbs up with skin tone",
    "👨‍👩‍👧‍👦 family",
    "👩🏾‍💻 woman technologist",
    "🏳️‍🌈 rainbow flag",
    "🇺🇸🇬🇧🇯🇵🇨🇳🇩🇪",
    "🇫🇷 France 🇮🇹 Italy",
    "1️⃣ 2️⃣ #️⃣ *️⃣",
    "❤️ ♥ ❤ 💔",
    "☀️🌤⛅️🌧",
    "🧑‍🤝‍🧑",
    "emoji😀without spaces😃between😄words",
    "😀😀😀😀😀😀😀😀😀😀",
    "🤖 robot sorting 🔩🔩🔩",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",
    "👁️‍🗨️",
    "✅ done ❌ failed ⚠️ warning",
)

# Combining marks and decomposed (NFD) letters
add(
    "e\u0301",
    "cafe\u0301",
    "e\u0301 \u00e9",
    "re\u0301sume\u0301",
    "a\u0300e\u0300i\u0300o\u0300u\u0300",
    "n\u0303",
    "A\u030a",
    "o\u0308 u\u0308 a\u0308",
    "Z\u0351\u0346\u0300a\u0315\u0351l\u0334g\u0336o\u035c",
    "\u0301 leading combining mark",
    "x\u20d7 vector",
    "\u1100\u1161\u11a8",
    "\u0915\u094d\u0937",
    "s\u0323\u0307",
    "Ame\u0301lie et Ame\u0301lie",
)

# Contractions in mixed case
add(
    "I'm", "I'M", "i'm", "they'll", "they'Ll", "THEY'LL", "they'lL", "we're", "WE'RE", "we'Re",
    "you've", "YOU'VE", "she'd", "SHE'D", "it's", "IT'S", "it'S", "don't", "DON'T", "can't",
    "won't", "shouldn't've", "y'all", "o'clock", "rock'n'roll", "'s", "'S", "'sa", "''s", "'tis",
    "I'd've", "Let's go!", "The dog's bone and the dogs' bones.", "isn't it’s curly’s",
    "'ll 'LL 're 'RE 've 'VE 'm 'M 'd 'D 't 'T", "He said 'hello' and 'goodbye'.", "' s", "'x",
)

# Whitespace: runs, tabs, CR/LF, blank lines, leading/trailing, Unicode spaces
add(
    "  two leading spaces",
    "trailing spaces  ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    "\n\n",
    "\n\n\n\n",
    "a  b",
    "a   b",
    "a    b",
    "a\tb",
    "a\t\tb",
    "a \t b",
    "a\nb",
    "a\r\nb",
    "a\r\n\r\nb",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\nendings\r\n",
    "old mac\rline\rendings",
    "  \n  \n  ",
    " \n",
    "\n ",
    "x \n y",
    "tabs\tin\tthe\tmiddle\t",
    "\t\tleading tabs",
    " leading space",
    "trailing newline\n",
    "word          word",
    "a" + " " * 40 + "b",
    "\u00a0non-breaking\u00a0space",
    "ideographic\u3000space",
    "em\u2003space and thin\u2009space",
    "line\u2028separator and paragraph\u2029separator",
    "\u000b vertical tab \u000c form feed",
    "end with spaces and newline  \n",
    "!!  ??\n\n",
    "  12  34  ",
    "\n\nHello\n\n",
    "a\n\n\n\n\nb",
    " \t \n \t ",
)

# Special tokens inside text
add(
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
    "<|endoftext|>",
    "text before<|endoftext|>text after",
    "<|im_start|><|im_end|>",
    "<|im_start|><|im_start|><|im_end|><|im_end|>",
    " <|im_end|> ",
    "<|im_start",
    "im_start|>",
    "<|IM_START|>",
    "<| im_start |>",
    "<<|im_end|>>",
    "<|endoftext|><|endoftext|>",
    "The token <|im_end|> ends a turn.",
    "<|im_start|>assistant\n我很好，谢谢！<|im_end|>",
    "<|object_ref_start|> is not a PLM token",
)

# Punctuation, symbols, control characters, invisible characters
add(
    "!!!", "...", "?!?!", "—", "–-—", "«guillemets»", "„German quotes“", "‘single’ “double”",
    "±×÷≠≤≥∞∑∏√∫", "€100 £50 ¥1000 ₹500 ₩1000 ₿0.5", "©®™", "•◦▪▫", "→←↑↓⇒⇔", "°C °F", "§ ¶ †‡",
    "\u0001\u0002\u0003", "tab\u007fdel", "zero\u200bwidth\u200bspace", "joiner\u200dalone", "\u200e\u200f",
    "~`@#$%^&*()_+-=[]{}|;:,.<>/?", "\\\\server\\share", "@@@@", "____", "----------", "==========",
    "**bold** _italic_ `code`", "# Heading\n## Subheading\n- item\n- item\n", "| a | b |\n|---|---|\n| 1 | 2 |",
    "\u00ad soft hyphen", "a\u0000b",
)

# Long words (beyond plm's 128-byte small-word path) and repetition
rng = random.Random(1234)
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
add(
    "a" * 300,
    "ab" * 150,
    " " * 200,
    "\n" * 50,
    "!" * 200,
    "".join(rng.choice(alphabet) for _ in range(400)),
    "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgYmFzZTY0IHN0cmluZyB0aGF0IGdvZXMgb24gYW5kIG9uIGFuZCBvbiBmb3IgbWFueSBieXRlcyBzbyB0aGF0IHRoZSB3b3JkIGlzIGxvbmc=",
    "机器学习" * 40,
    "ـ" * 100,
    "😀" * 50,
    "lo" + "o" * 200 + "ng",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 4,
    "1" * 100,
    "ab12" * 30,
    "The " * 60,
)

# Deterministic pseudo-random mixtures of the pieces above
pieces = ["the", " ", "  ", "\n", "\t", "I'M", "they'Ll", "123", "4", ",", ".", "!?", "你好", "こんにちは",
          "안녕", "Привет", "مرحبا", "नमस्ते", "😀", "👨‍👩‍👧", "🇯🇵", "e\u0301", "<|im_end|>", "<|im_start|>",
          "http://x.y/z", "\r\n", "  \n", "x", "Ü", "ß", "$", "(", ")", "'s", "'", "\u3000", "\u00a0"]
for i in range(40):
    C.append("".join(rng.choice(pieces) for _ in range(rng.randint(3, 24))))

seen = set()
out = []
for s in C:
    if s in seen:
        continue
    seen.add(s)
    for bad in ("\u0085", "\ufeff", "\u017f", "\u212a"):
        assert bad not in s, repr(s)
    out.append(s)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.json")
with open(path, "w", encoding="utf-8") as f:
    f.write("[\n")
    f.write(",\n".join(json.dumps(s, ensure_ascii=False) for s in out))
    f.write("\n]\n")
print(f"wrote {path}: {len(out)} strings")
