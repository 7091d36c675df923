"""Just enough HTML reading for check.sh's hosted flows, with Python's own parser.

    html_form.py href PREFIX < page      the first link whose href starts with PREFIX
    html_form.py form MARKER [k=v...] < page
        the form whose id or class is MARKER ("" for the first form): its action on the first
        line, then its fields urlencoded (hidden and valued inputs in document order; checkboxes,
        radios and buttons left out), with each k=v given replacing or adding a field.

Exits 1 with a message on stderr when the page has no such link or form.
"""

import sys
import urllib.parse
from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []
        self.forms = []  # (attrs, [(name, value)])
        self.open_form = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        elif tag == "form":
            self.open_form = (a, [])
            self.forms.append(self.open_form)
        elif tag == "input" and self.open_form is not None:
            kind = a.get("type", "text").lower()
            if kind not in ("checkbox", "radio", "submit", "button", "image") and a.get("name"):
                self.open_form[1].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self.open_form = None


def main():
    mode, marker = sys.argv[1], sys.argv[2]
    page = Page()
    page.feed(sys.stdin.read())
    if mode == "href":
        for h in page.hrefs:
            if h.startswith(marker):
                print(h)
                return 0
        print(f"no link starting with {marker!r}", file=sys.stderr)
        return 1
    for attrs, fields in page.forms:
        if marker == "" or attrs.get("id") == marker or marker in attrs.get("class", "").split():
            given = dict(kv.split("=", 1) for kv in sys.argv[3:])
            fields = [(k, v) for k, v in fields if k not in given] + list(given.items())
            print(attrs.get("action", ""))
            print(urllib.parse.urlencode(fields))
            return 0
    print(f"no form {marker!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
