"""The simulated phone's shell: THE reference for the command vocabulary the harness may send
to a simulated phone (``adb shell CMD``). This module parses (mksh grammar subset); the
interpreter is ``interp.py`` (+ ``expand.py``), the commands live in ``builtins.py``,
``posixcmds.py``, ``toybox.py``, ``disk.py``, ``textutils.py`` and ``framework.py``. Output,
messages and exit codes follow mksh and toybox on Android 14; anything not listed here is
``/system/bin/sh: NAME: inaccessible or not found`` with exit code 127.

Syntax
  quoting       '...' (literal)  "..." ($ expansions; \\ escapes $ ` " \\)  \\x (literal x)
  expansions    $VAR ${VAR} $? $$ $! $# $0..$9 $@ "$@" $*  $(...) `...`  $((arithmetic))
                ${V:-w} ${V-w} ${V:=w} ${V:+w} ${#V} ${V%p} ${V%%p} ${V#p} ${V##p}
                unquoted expansions are split on blanks; * ? [...] glob the device files
  lists         a ; b   a && b   a || b   ! a   a | b   newlines   # comments
                pipes are buffered: a stage runs to its end before the next one starts
  background    cmd &  runs on a thread; the command line waits for it at its end (adbd keeps
                the stream open) unless both its stdout and stderr are redirected; $! is its
                pid and ``kill PID`` stops it
  redirection   > f  >> f  < f  2> f  2>&1  >&2  N>&M  /dev/null; failures print
                ``/system/bin/sh: can't create F: Read-only file system`` (outside
                /data/local/tmp) or ``...: No space left on device`` (full disk), exit 1
  variables     VAR=v (shell), VAR=v cmd (that command only), export, unset, read
  compound      while|until LIST; do LIST; done     for X [in WORDS]; do LIST; done
                if LIST; then LIST; [elif LIST; then LIST;] [else LIST;] fi   { LIST; }  ( LIST )
  cwd           per command line, starts at /; ``cd``/``pwd``
  kill          a killed command line stops at the next command, loop turn or sleep slice
                and ends with exit code 137
  hang-up       when the host closes the stream or the connection drops, adbd sends SIGHUP
                and closes stdin: the command line is killed, unless it ran ``trap '' HUP``;
                then it runs on and ``read`` sees end of input (exit 1)
  not simulated here-documents (<<), functions, case, aliases, job control (jobs, fg, bg)

Builtins        cd pwd exit export unset set shift read eval . source exec kill wait command
                type which true false : sleep timeout env taskset nice nohup sh echo printf
                test [ trap   (echo: -n -e -E, escapes on by default as in mksh; trap: only
                '' (ignore) and - (default), e.g. ``trap '' HUP``)
Files           cat ls (-a -l -1 -d -t -S) stat (-c %s %Y %X %Z %a %A %n %N %F %U %G %u %g
                %y %b %h %i) sha256sum md5sum sha1sum mkdir (-p) rm (-r -f) rmdir mv cp (-r)
                chmod (octal, [ugoa][+-=][rwx]) touch (-c) df (-k -h [PATH...]) du (-s -k -h)
Text            head tail (-n N, -N, -c N, +N) wc (-l -w -c) grep (-v -i -c -q -E -F -n -o -l
                -h -H -w -x -e) sort (-n -r -u) uniq cut (-d -f) tr (-d) seq basename dirname
                tee
System          uname (-a -s -n -r -v -m -o) id whoami nproc hostname date (+FORMAT, also %s
                %N: ``date +%s.%N`` is the device clock with ns) getenforce
Android         getprop [KEY [DEFAULT]] (no KEY: ``[key]: [value]`` lines, sorted);
                setprop KEY VALUE (debug.*, log.tag.*, persist.debug.*; others fail);
                dumpsys battery [unplug | set ac|usb|level|status|temp N | reset |
                suspend_input | get KEY]; dumpsys thermalservice; dumpsys -l;
                cmd battery ... (as dumpsys battery); settings get|put|delete|list NS [KEY [V]]
                ``unplug``/``set`` only freeze what BatteryService reports; ``suspend_input``
                stops charging for real (debuggable builds only, as on Android 14: else a
                SecurityException text); ``reset`` undoes both
Device files    /proc/{cpuinfo,meminfo,uptime,stat,loadavg,version}
                /sys/class/power_supply/battery/{current_now,voltage_now,capacity,status,temp,
                charge_counter,...,uevent} and usb/{online,...} (units and sign per profile)
                /sys/class/thermal/thermal_zoneN/{type,temp,mode,policy} (match by type)
                /sys/devices/system/cpu/{online,present,possible}, cpuN/{cpu_capacity,
                online,topology/cluster_id,cpufreq/...}, cpufreq/policyN/{scaling_cur_freq,
                scaling_max_freq,scaling_available_frequencies,cpuinfo_*,stats/time_in_state}
                /dev/null, profile extras (/sys/devices/soc0/* on Qualcomm); everything else
                does not exist. /data/local/tmp is the only writable place.
Programs        an executable file on the device runs: a name registered with
                ``Userland.register_tool`` runs that emulated program (CPU work counted as load
                in the physics); a text file runs as a shell script; any other ELF file fails
                ``not executable: 64-bit ELF file`` (126); without the x bit ``can't execute:
                Permission denied`` (126). /system/bin/NAME works for every command above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npubench.devices.sim.lexer import ASSIGNMENT, NAME, ShellSyntaxError, Word, tokenize

SH = "/system/bin/sh"
__all__ = ["SH", "NAME", "ASSIGNMENT", "ShellSyntaxError", "Word", "parse", "tokenize"]


# --- the syntax tree -------------------------------------------------------------------------

@dataclass
class Redirect:
    fd: int
    op: str  # < > >> >& <&
    target: Word


@dataclass
class Simple:
    assigns: list[tuple[str, Word]]
    words: list[Word]
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Sequence:
    items: list[tuple[AndOr, bool]]  # (and-or list, run in the background)


@dataclass
class Pipeline:
    commands: list
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]  # ("&&" | "||", pipeline)


@dataclass
class Loop:
    cond: Sequence
    body: Sequence
    until: bool = False
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class ForLoop:
    name: str
    words: list[Word] | None  # None: "$@"
    body: Sequence
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class If:
    branches: list[tuple[Sequence, Sequence]]
    orelse: Sequence | None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Group:
    body: Sequence
    subshell: bool
    redirects: list[Redirect] = field(default_factory=list)


# --- parser ------------------------------------------------------------------------------------

STARTERS = {"while", "until", "for", "if", "{"}
ENDERS = {"do", "done", "then", "else", "elif", "fi", "}"}


def parse(src: str) -> Sequence:
    """The syntax tree of a whole command line (mksh grammar subset)."""
    parser = _Parser(tokenize(src))
    tree = parser.sequence(set())
    if parser.pos < len(parser.tokens):
        raise ShellSyntaxError(f"'{parser.text()}' unexpected")
    return tree


class _Parser:
    def __init__(self, tokens: list[tuple[str, object]]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, object] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def text(self) -> str:
        tok = self.peek()
        if tok is None:
            return "end of input"
        if tok[0] == "word":
            return tok[1].literal() or "word"
        return "newline" if tok[1] == "\n" else str(tok[1] if tok[0] == "op" else tok[1][1])

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "op" and tok[1] in ops

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].literal() in words

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise ShellSyntaxError(f"'{self.text()}' unexpected")
        self.pos += 1

    def newlines(self) -> None:
        while self.is_op("\n"):
            self.pos += 1

    def sequence(self, stop: set[str]) -> Sequence:
        items: list[tuple[AndOr, bool]] = []
        while True:
            self.newlines()
            if self.peek() is None or self.is_op(")") or self.is_word(*stop):
                break
            and_or = self.and_or()
            background = self.is_op("&")
            items.append((and_or, background))
            if self.is_op(";", "&", "\n"):
                self.pos += 1
            else:
                break
        if stop and not items:
            raise ShellSyntaxError(f"'{self.text()}' unexpected")
        return Sequence(items)

    def and_or(self) -> AndOr:
        first, rest = self.pipeline(), []
        while self.is_op("&&", "||"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            self.newlines()
            rest.append((op, self.pipeline()))
        return AndOr(first, rest)

    def pipeline(self) -> Pipeline:
        negate = self.is_word("!")
        if negate:
            self.pos += 1
        commands = [self.command()]
        while self.is_op("|"):
            self.pos += 1
            self.newlines()
            commands.append(self.command())
        return Pipeline(commands, negate)

    def command(self):
        tok = self.peek()
        if tok is None:
            raise ShellSyntaxError("unexpected end of input")
        if tok[0] == "op" and tok[1] == "(":
            self.pos += 1
            body = self.sequence(set())
            if not self.is_op(")"):
                raise ShellSyntaxError(f"'{self.text()}' unexpected")
            self.pos += 1
            return Group(body, True, self.redirects())
        word = tok[1].literal() if tok[0] == "word" else None
        if word in ENDERS:
            raise ShellSyntaxError(f"'{word}' unexpected")
        if word in ("while", "until"):
            self.pos += 1
            cond = self.sequence({"do"})
            self.expect_word("do")
            body = self.sequence({"done"})
            self.expect_word("done")
            return Loop(cond, body, word == "until", self.redirects())
        if word == "for":
            return self.for_loop()
        if word == "if":
            return self.if_clause()
        if word == "{":
            self.pos += 1
            body = self.sequence({"}"})
            self.expect_word("}")
            return Group(body, False, self.redirects())
        return self.simple()

    def for_loop(self) -> ForLoop:
        self.pos += 1
        tok = self.peek()
        name = tok[1].literal() if tok and tok[0] == "word" else None
        if not name or not NAME.fullmatch(name):
            raise ShellSyntaxError("for: bad identifier")
        self.pos += 1
        self.newlines()
        words = None
        if self.is_word("in"):
            self.pos += 1
            words = []
            while (tok := self.peek()) is not None and tok[0] == "word":
                words.append(tok[1])
                self.pos += 1
        if self.is_op(";", "\n"):
            self.pos += 1
        self.newlines()
        self.expect_word("do")
        body = self.sequence({"done"})
        self.expect_word("done")
        return ForLoop(name, words, body, self.redirects())

    def if_clause(self) -> If:
        self.pos += 1
        branches, orelse = [], None
        while True:
            cond = self.sequence({"then"})
            self.expect_word("then")
            branches.append((cond, self.sequence({"elif", "else", "fi"})))
            if self.is_word("elif"):
                self.pos += 1
                continue
            if self.is_word("else"):
                self.pos += 1
                orelse = self.sequence({"fi"})
            self.expect_word("fi")
            return If(branches, orelse, self.redirects())

    def redirects(self) -> list[Redirect]:
        found = []
        while (tok := self.peek()) is not None and tok[0] == "redir":
            found.append(self.redirect())
        return found

    def redirect(self) -> Redirect:
        fd, op = self.tokens[self.pos][1]
        self.pos += 1
        tok = self.peek()
        if tok is None or tok[0] != "word":
            raise ShellSyntaxError(f"'{self.text()}' unexpected")
        self.pos += 1
        return Redirect(fd, op, tok[1])

    def simple(self) -> Simple:
        assigns, words, redirects = [], [], []
        while (tok := self.peek()) is not None and tok[0] in ("word", "redir"):
            if tok[0] == "redir":
                redirects.append(self.redirect())
                continue
            word = tok[1]
            first = word.parts[0] if word.parts else None
            m = ASSIGNMENT.match(first[1]) if first and first[0] == "lit" and not first[2] else None
            if m and not words:
                rest = [("lit", first[1][m.end():], False)] + word.parts[1:]
                assigns.append((m.group(1), Word([p for p in rest if p[1] or p[0] != "lit"])))
            else:
                words.append(word)
            self.pos += 1
        if not (assigns or words or redirects):
            raise ShellSyntaxError(f"'{self.text()}' unexpected")
        return Simple(assigns, words, redirects)
