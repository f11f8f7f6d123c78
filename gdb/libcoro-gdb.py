# gdb commands for libcoro's coroutines.
#
#   info coroutines          the calling thread's live coroutines, one a line
#   coro bt N|ADDR|NAME [BT-ARGS]
#                            the backtrace of a suspended coroutine
#   coro bt all [BT-ARGS]    the same for every suspended one
#   $coro(N)                 the coroutine numbered N, a struct coro *
#
# make install puts this file where gdb loads it by itself for the library:
# $(datadir)/gdb/auto-load$(libdir)/libcoro.so.X.Y.Z-gdb.py. For a library
# elsewhere, or linked statically: (gdb) source .../libcoro-gdb.py.
#
# It reads what libcoro keeps for debuggers (lib/object.h): through the
# thread-local coro__thr_ptr, the thread's state and the list of its live
# coroutines (struct coro__thread's live, oldest first). A suspended
# coroutine's registers are where its last switch saved them: for the fast
# backend the frame at ctx.sp (lib/switch-x86_64.S, switch-aarch64.S), for
# the ucontext backend its ucontext_t. To unwind one, the commands load
# those registers into the selected thread's innermost frame, as Go's
# runtime-gdb.py does for 'goroutine N bt', and put the thread's own back
# afterwards, with the frame that was selected.
#
# It needs the library's debug information (the types of lib/object.h).
import os

import gdb

STATUS = ("created", "suspended", "running", "normal", "dead")
CREATED, SUSPENDED, RUNNING, NORMAL, DEAD = range(5)
# lib/wait.h: a task's wait that has not fired yet.
CORO__PENDING = -(2 ** 31)

# Frames walked at most when looking for the first one outside libcoro.
MAX_WALK = 64
# Coroutines listed at most: a corrupt list must not loop forever.
MAX_LIVE = 1000000

NO_DEBUG_INFO = (
    "libcoro: no debug information for libcoro (%s): install its debug symbols "
    "(Debian: the libcoro0-dbgsym package) or build it with -g"
)


def _err(msg):
    return gdb.GdbError(msg)


def _lookup_type(name, near="coro_resume"):
    """A type of libcoro's, as the source file of its function near sees
    it: a program may have a struct task of its own."""
    block = None
    try:
        sym = gdb.lookup_global_symbol(near)
        if sym is not None and sym.symtab is not None:
            block = sym.symtab.static_block()
    except gdb.error:
        pass
    try:
        return gdb.lookup_type(name, block) if block is not None else gdb.lookup_type(name)
    except gdb.error:
        raise _err(NO_DEBUG_INFO % ("no type %s" % name))


def _thread_state():
    """The selected thread's struct coro__thread, as a gdb.Value."""
    thread = gdb.selected_thread()
    if thread is None or not thread.is_valid():
        raise _err("The program is not being run.")
    if thread.is_running():
        raise _err("libcoro: thread %d is running: interrupt it first" % thread.num)
    try:
        sym = gdb.lookup_global_symbol("coro__thr_ptr")
    except gdb.error:
        sym = None
    if sym is None:
        try:
            gdb.parse_and_eval("&coro__thr_ptr")
        except gdb.error as e:
            if "unknown type" in str(e):
                raise _err(NO_DEBUG_INFO % "coro__thr_ptr has no type")
            raise _err("libcoro: this program has no libcoro (no coro__thr_ptr): %s" % e)
    try:
        ptr = gdb.parse_and_eval("coro__thr_ptr")
    except gdb.error as e:
        if "unknown type" in str(e):
            raise _err(NO_DEBUG_INFO % "coro__thr_ptr has no type")
        raise _err("libcoro: cannot read this thread's coro__thr_ptr: %s" % e)
    if ptr.type.strip_typedefs().code != gdb.TYPE_CODE_PTR:
        raise _err(NO_DEBUG_INFO % "coro__thr_ptr is no pointer")
    thr = ptr.dereference()
    try:
        if int(thr["id"]) == 0:
            raise _err("libcoro: thread %d has not used libcoro: no coroutines"
                       % gdb.selected_thread().num)
    except gdb.MemoryError as e:
        raise _err("libcoro: cannot read this thread's state: %s" % e)
    return thr


class Coro(object):
    """A coroutine of the thread, or (number 0) the thread's own stack."""

    def __init__(self, thr, base, co=None):
        self.base = base            # its struct coro__base
        self.co = co                # its struct coro, or None for the root
        self.status = int(base["status"])
        self.current = int(thr["current"]) == int(base.address)
        if co is None:
            self.seq = 0
            self.addr = int(base.address)
            self.kind = "thread"
            self.name = "(thread's own stack)"
            return
        self.seq = int(co["b"]["seq"])
        self.addr = int(co.address)
        ops = co["ops"]
        self.kind = ops["kind"].string() if int(ops) else "coro"
        name = co["name"].string()
        # The default, as coro_name() would make it (it makes it only when asked).
        self.name = name if name else "%s-%d" % (self.kind, self.seq)

    def label(self):
        if self.co is None:
            return "the thread's own stack"
        return 'coroutine %d "%s"' % (self.seq, self.name)

    def status_name(self):
        """As coro_status() says; for a task, as coro_sched_dump() does:
        running, ready or waiting."""
        if not 0 <= self.status < len(STATUS):
            return "status %d" % self.status
        if self.kind == "task" and self.status in (CREATED, SUSPENDED):
            task = self.co["ext"].address.cast(_lookup_type("struct task", "coro_sched_run").pointer())
            return "waiting" if int(task["own"]["fired"]) == CORO__PENDING else "ready"
        return STATUS[self.status]

    def has_saved_context(self):
        """Whether ctx holds registers that a switch saved: it is suspended
        (or resumed another coroutine and waits for it) and not running."""
        return not self.current and self.status in (SUSPENDED, NORMAL)


def _coroutines():
    """The thread's stack and its live coroutines, oldest first."""
    thr = _thread_state()
    coro_t = _lookup_type("struct coro")
    off = None
    for f in coro_t.fields():
        if f.name == "live":
            off = f.bitpos // 8
    if off is None:
        raise _err("libcoro: struct coro has no live list: a libcoro older than these commands")
    coro_p = coro_t.pointer()
    out = [Coro(thr, thr["root"])]
    head = thr["live"]
    head_addr = int(head.address)
    node = head["next"]
    seen = 0
    try:
        while int(node) != head_addr:
            if int(node) == 0 or seen >= MAX_LIVE:
                gdb.write("libcoro: the list of live coroutines is broken after %d of them\n" % seen)
                break
            co = gdb.Value(int(node) - off).cast(coro_p).dereference()
            out.append(Coro(thr, co["b"], co))
            node = node.dereference()["next"]
            seen += 1
    except gdb.MemoryError as e:
        gdb.write("libcoro: cannot read the list of live coroutines past %d of them: %s\n" % (seen, e))
    return out


def _find(arg):
    """The coroutine named by arg: a number, an address or a name."""
    arg = arg.strip()
    all_ = _coroutines()
    try:
        n = int(arg, 0)
    except ValueError:
        n = None
    if n is not None:
        for c in all_:
            if c.seq == n or (c.co is not None and c.addr == n):
                return c
        raise _err("libcoro: no coroutine %s in thread %d (see info coroutines)"
                   % (arg, gdb.selected_thread().num))
    named = [c for c in all_ if c.co is not None and c.name == arg]
    if len(named) == 1:
        return named[0]
    if named:
        raise _err('libcoro: %d coroutines are named "%s": give a number (%s)'
                   % (len(named), arg, ", ".join(str(c.seq) for c in named)))
    raise _err('libcoro: no coroutine named "%s" in thread %d (see info coroutines)'
               % (arg, gdb.selected_thread().num))


def _arch():
    return gdb.selected_frame().architecture().name()


def _saved_registers(c):
    """The registers c's last switch saved: {gdb register name: value},
    the pc and the stack pointer among them."""
    ctx = c.base["ctx"]
    fields = [f.name for f in ctx.type.strip_typedefs().fields()]
    arch = _arch()
    u64 = gdb.lookup_type("unsigned long long")
    if "sp" in fields:  # the fast backend: a frame at sp
        sp = int(ctx["sp"])
        frame = gdb.Value(sp).cast(u64.pointer())
        if "x86-64" in arch:
            # r15, r14, r13, r12, rbx, rbp, the address to go on at.
            # That address is a return address: the library tail-calls
            # down to the switch, so it is often right after the user's
            # own call into libcoro, where the line is the next
            # statement's (or the loop's). gdb looks a caller's line up
            # at its pc - 1; as the innermost frame it would not, so the
            # pc is set inside the call instruction. The unwind rules are
            # the same there.
            v = [int(frame[i]) for i in range(7)]
            return {"r15": v[0], "r14": v[1], "r13": v[2], "r12": v[3], "rbx": v[4],
                    "rbp": v[5], "rip": v[6] - 1, "rsp": sp + 7 * 8}
        if "aarch64" in arch:
            # x19-x28, x29, x30 (where ret goes), d8-d15, FPCR: 176 bytes.
            regs = {"x%d" % (19 + i): int(frame[i]) for i in range(12)}
            regs["pc"] = regs["x30"] - 4  # the bl itself, as above
            regs["sp"] = sp + 176
            return regs
    elif "uc" in fields:  # the ucontext backend: what swapcontext() saved
        mc = ctx["uc"]["uc_mcontext"]
        if "x86-64" in arch:
            g = mc["gregs"]
            # <sys/ucontext.h>: REG_R12 4 .. REG_R15 7, REG_RBP 10, REG_RBX 11,
            # REG_RSP 15, REG_RIP 16.
            names = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11,
                     "rsp": 15, "rip": 16}
            return {r: int(g[i]) & 0xFFFFFFFFFFFFFFFF for r, i in names.items()}
        if "aarch64" in arch:
            regs = {"x%d" % i: int(mc["regs"][i]) for i in range(19, 31)}
            regs["sp"] = int(mc["sp"])
            regs["pc"] = int(mc["pc"])
            return regs
    raise _err("libcoro: these commands cannot read a saved context on %s" % arch)


class _Registers(object):
    """Loads saved registers into the innermost frame of the selected
    thread (load()); on leaving, puts the thread's own back and selects the
    frame that was selected."""

    def __enter__(self):
        self.level = gdb.selected_frame().level()
        self.saved = {}
        gdb.newest_frame().select()
        return self

    def load(self, regs):
        frame = gdb.newest_frame()
        for r in regs:
            if r not in self.saved:
                self.saved[r] = int(frame.read_register(r)) & 0xFFFFFFFFFFFFFFFF
        self._write(regs)

    def _write(self, regs):
        # The pc last: after it gdb's frame is the coroutine's.
        for r in sorted(regs, key=lambda r: r in ("pc", "rip")):
            gdb.execute("set $%s = %#x" % (r, regs[r]), to_string=True)

    def __exit__(self, *exc):
        try:
            if self.saved:
                self._write(self.saved)
        finally:
            try:
                frame = gdb.newest_frame()
                for _ in range(self.level):
                    frame = frame.older() or frame
                frame.select()
            except gdb.error:
                pass
        return False


_lib_dir = None


def _library_dir():
    """The directory of libcoro's sources, as its debug information says."""
    global _lib_dir
    if _lib_dir is None:
        sym = gdb.lookup_global_symbol("coro_resume")
        _lib_dir = os.path.dirname(sym.symtab.fullname()) if sym and sym.symtab else ""
    return _lib_dir


def _in_library(frame):
    sal = frame.find_sal()
    if sal.symtab is None:
        return False
    return os.path.dirname(sal.symtab.fullname()) == _library_dir()


def _describe_pc(pc, name=None):
    sal = gdb.find_pc_line(pc)
    if name is None:
        block = gdb.block_for_pc(pc)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            name = block.function.print_name
        else:
            name = gdb.execute("info symbol %#x" % pc, to_string=True).split(" in ")[0].strip()
            if name.startswith("No symbol"):
                name = "%#x" % pc
            else:
                name = name.split(" + ")[0]
    if sal.symtab is not None:
        return "%s (%s:%d)" % (name, os.path.basename(sal.symtab.filename), sal.line)
    return name


def _describe_frame(frame):
    name = frame.name() or "%#x" % frame.pc()
    sal = frame.find_sal()
    if sal.symtab is not None:
        return "%s (%s:%d)" % (name, os.path.basename(sal.symtab.filename), sal.line)
    return name


def _where():
    """The innermost frame outside libcoro of the frames now loaded."""
    frame = first = gdb.newest_frame()
    for _ in range(MAX_WALK):
        if frame is None:
            break
        if not _in_library(frame):
            return _describe_frame(frame)
        try:
            frame = frame.older()
        except gdb.error:
            break
    return _describe_frame(first)


def _not_started(c):
    if c.co is None:
        return "-"
    return "%s, not started" % _describe_pc(int(c.co["fn"]))


class InfoCoroutines(gdb.Command):
    """The live coroutines of the selected thread, one a line.
Usage: info coroutines

Columns: its number (0 is the thread's own stack; coroutines are numbered
from 1 in the order the thread made them, as coro_name()'s default says),
its address (the coro_t *), its kind (coro or task), name and status, and
where it is: for a suspended one, the innermost function outside libcoro
that it is suspended in. The running one is marked with *.
'coro bt N' shows the whole backtrace of one."""

    def __init__(self):
        super(InfoCoroutines, self).__init__("info coroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        coros = _coroutines()
        rows = []
        with _Registers() as regs:
            for c in coros:
                if c.current:
                    where = None  # filled in below, from the thread's own frames
                elif c.has_saved_context():
                    try:
                        saved = _saved_registers(c)
                        try:
                            regs.load(saved)
                            where = _where()
                        except gdb.error:
                            # No registers to change (a core file): the pc only.
                            pc = saved.get("rip", saved.get("pc"))
                            where = _describe_pc(pc)
                    except (gdb.error, gdb.MemoryError) as e:
                        where = "(cannot read its saved context: %s)" % e
                elif c.status == CREATED:
                    where = _not_started(c)
                else:
                    where = "-"
                rows.append([c, where])
        for row in rows:
            if row[1] is None:
                row[1] = _where()
        width = max(len(r[0].name) for r in rows)
        gdb.write("  %-4s %-18s %-6s %-*s  %-9s  %s\n"
                  % ("Id", "Address", "Kind", width, "Name", "Status", "Where"))
        for c, where in rows:
            addr = "-" if c.co is None else "%#x" % c.addr
            gdb.write("%s %-4d %-18s %-6s %-*s  %-9s  %s\n"
                      % ("*" if c.current else " ", c.seq, addr, c.kind, width, c.name,
                         c.status_name(), where))


def _why_no_frames(c):
    if c.current:
        return "%s is running: its frames are the thread's (bt)" % c.label()
    if c.status == CREATED:
        return "%s has not started: it has no frames yet" % c.label()
    if c.status == DEAD:
        return "%s has ended: it has no frames" % c.label()
    return None


def _backtrace(c, bt_args):
    why = _why_no_frames(c)
    if why:
        raise _err("libcoro: " + why)
    saved = _saved_registers(c)
    with _Registers() as regs:
        try:
            regs.load(saved)
        except gdb.error as e:
            pc = saved.get("rip", saved.get("pc"))
            raise _err("libcoro: cannot load %s's registers (%s): it is suspended in %s"
                       % (c.label(), e, _describe_pc(pc)))
        gdb.execute("bt " + bt_args)


class Coro_(gdb.Command):
    """Commands for libcoro's coroutines: see 'help coro bt' and 'help info coroutines'."""

    def __init__(self):
        super(Coro_, self).__init__("coro", gdb.COMMAND_STACK, prefix=True)


class CoroBt(gdb.Command):
    """The backtrace of a suspended coroutine of the selected thread.
Usage: coro bt N|ADDRESS|NAME [BT-ARGS]
       coro bt all [BT-ARGS]

N is its number in 'info coroutines' (0: the thread's own stack, while a
coroutine runs), ADDRESS its coro_t *, NAME its name. BT-ARGS go to bt
(full, -full, a count, ...). The frames come from the registers its last
switch saved; afterwards the thread's registers and the selected frame are
as they were. 'all' shows every suspended coroutine's."""

    def __init__(self):
        super(CoroBt, self).__init__("coro bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        words = arg.split(None, 1)
        if not words:
            raise _err("Usage: coro bt N|ADDRESS|NAME [BT-ARGS], or coro bt all [BT-ARGS]")
        rest = words[1] if len(words) > 1 else ""
        if words[0] == "all":
            for c in _coroutines():
                if c.has_saved_context():
                    gdb.write("\n%s (%s, %s):\n" % (c.label(), c.kind, c.status_name()))
                    _backtrace(c, rest)
            return
        _backtrace(_find(words[0]), rest)


class CoroFunction(gdb.Function):
    """$coro(N): the coroutine numbered N in 'info coroutines', as a struct coro *."""

    def __init__(self):
        super(CoroFunction, self).__init__("coro")

    def invoke(self, n):
        c = _find(str(int(n)))
        if c.co is None:
            raise _err("libcoro: 0 is the thread's own stack, not a coroutine")
        return c.co.address


InfoCoroutines()
Coro_()
CoroBt()
CoroFunction()
