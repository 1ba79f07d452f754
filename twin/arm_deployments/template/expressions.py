"""The ARM template expression language: "[func(args).prop[0]]" strings parsed into a small tree.

Grammar (as ARM's expression parser accepts it):
  expression := primary ( '.' identifier | '[' expression ']' )*
  primary    := 'string' | integer | function-call
  function-call := identifier ( '.' identifier )? '(' ( expression ( ',' expression )* )? ')'
String literals use single quotes, a quote inside is doubled (''). A JSON string that starts with "[["
is a literal whose first '[' is dropped; only strings that start with '[' and end with ']' are expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ExpressionError


@dataclass(frozen=True)
class Literal:
    value: str | int | bool | None


@dataclass(frozen=True)
class Call:
    name: str  # as written; "ns.func" for user-defined functions
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Access:
    target: Node
    key: Node  # a Literal string for ".prop", any expression for "[index]"


Node = Literal | Call | Access


def is_expression(text: str) -> bool:
    return len(text) >= 2 and text.startswith("[") and not text.startswith("[[") and text.endswith("]")


def unescape_literal(text: str) -> str:
    """A "[[...]" string is the literal "[...]" (ARM drops the first bracket)."""
    return text[1:] if text.startswith("[[") else text


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident" | "string" | "int" | "punct"
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            j = i + 1
            parts: list[str] = []
            while True:
                if j >= n:
                    raise ExpressionError(
                        f"The language expression '{source}' is not valid: the string literal starting at "
                        f"position '{i}' is not terminated."
                    )
                if source[j] == "'":
                    if j + 1 < n and source[j + 1] == "'":
                        parts.append("'")
                        j += 2
                        continue
                    break
                parts.append(source[j])
                j += 1
            tokens.append(_Token("string", "".join(parts), i))
            i = j + 1
        elif ch.isdigit() or (ch == "-" and i + 1 < n and source[i + 1].isdigit()):
            j = i + 1
            while j < n and source[j].isdigit():
                j += 1
            if j < n and source[j] == ".":
                # ARM has no floating point literals
                raise ExpressionError(
                    f"The language expression '{source}' is not valid: floating point literals are not "
                    f"supported (position '{j}')."
                )
            tokens.append(_Token("int", source[i:j], i))
            i = j
        elif ch.isalpha() or ch in "_$":
            j = i + 1
            while j < n and (source[j].isalnum() or source[j] in "_$"):
                j += 1
            tokens.append(_Token("ident", source[i:j], i))
            i = j
        elif ch in "().,[]":
            tokens.append(_Token("punct", ch, i))
            i += 1
        else:
            raise ExpressionError(
                f"The language expression '{source}' is not valid: the character '{ch}' at position '{i}' "
                "is not expected."
            )
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0

    def _invalid(self, what: str) -> ExpressionError:
        return ExpressionError(f"The language expression '{self.source}' is not valid: {what}")

    def peek(self, offset: int = 0) -> _Token | None:
        k = self.i + offset
        return self.tokens[k] if k < len(self.tokens) else None

    def take(self) -> _Token:
        tok = self.peek()
        if tok is None:
            raise self._invalid("the expression ends unexpectedly.")
        self.i += 1
        return tok

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok.kind != "punct" or tok.text != punct:
            raise self._invalid(f"expected '{punct}' at position '{tok.pos}' but found '{tok.text}'.")

    def parse(self) -> Node:
        node = self.expression()
        tok = self.peek()
        if tok is not None:
            raise self._invalid(f"unexpected '{tok.text}' at position '{tok.pos}'.")
        return node

    def expression(self) -> Node:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "punct":
                return node
            if tok.text == ".":
                self.take()
                name = self.take()
                if name.kind != "ident":
                    raise self._invalid(f"expected a property name at position '{name.pos}'.")
                node = Access(node, Literal(name.text))
            elif tok.text == "[":
                self.take()
                key = self.expression()
                self.expect("]")
                node = Access(node, key)
            else:
                return node

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "string":
            return Literal(tok.text)
        if tok.kind == "int":
            return Literal(int(tok.text))
        if tok.kind == "ident":
            name = tok.text
            nxt = self.peek()
            # "ns.func(" is a user-defined function; "a.b" without a call is not valid at the start
            if (
                nxt is not None
                and nxt.text == "."
                and (third := self.peek(1)) is not None
                and third.kind == "ident"
                and (fourth := self.peek(2)) is not None
                and fourth.text == "("
            ):
                self.take()
                name = f"{name}.{self.take().text}"
                nxt = self.peek()
            if nxt is not None and nxt.kind == "punct" and nxt.text == "(":
                self.take()
                args: list[Node] = []
                if (close := self.peek()) is not None and close.text == ")":
                    self.take()
                else:
                    while True:
                        args.append(self.expression())
                        sep = self.take()
                        if sep.text == ")":
                            break
                        if sep.text != ",":
                            raise self._invalid(f"expected ',' or ')' at position '{sep.pos}'.")
                return Call(name, tuple(args))
            lowered = name.lower()
            # ARM's parser accepts the bare words true, false and null as literals
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            raise self._invalid(
                f"'{name}' at position '{tok.pos}' must be a function call, a string or an integer."
            )
        raise self._invalid(f"unexpected '{tok.text}' at position '{tok.pos}'.")


_CACHE: dict[str, Node] = {}


def parse_expression(text: str) -> Node:
    """Parse the inside of "[...]" (the brackets already removed)."""
    node = _CACHE.get(text)
    if node is None:
        if not text.strip():
            raise ExpressionError("The language expression '' is not valid: it is empty.")
        node = _Parser(text).parse()
        _CACHE[text] = node
    return node
