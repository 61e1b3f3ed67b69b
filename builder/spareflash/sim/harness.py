"""The simulator harness: a yasimavr device running one firmware, with markers, console capture, flash access,
page-operation tracking and power cuts. The API is documented in docs/simulator.md.

How it stays fast: the simulation runs inside yasimavr's C++ loop (`SimLoop.run`); Python only runs when the
firmware writes one of a handful of I/O registers (GPIOR0 markers, GPIOR1 debug bytes, UDR0 Serial bytes, SPMCSR
page operations), through `IORegHandler`s added next to the peripherals' own handlers.
"""

from __future__ import annotations

import functools
import importlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

from intelhex import IntelHex

from ..chips import Chip, get_chip
from ..errors import SimulationError, SpareFlashError
from .firmware import FirmwareSource, load_firmware, read_hex, write_hex

DEVICES_DIR = Path(__file__).parent / "devices"
IO_OFFSET = 0x20  # data-space address = I/O address + 0x20 on classic AVR
FUSE_ORDER = ("lfuse", "hfuse", "efuse")

# SPMCSR bits (same on every classic AVR with SPM)
SPMEN, PGERS, PGWRT = 0x01, 0x02, 0x04
SPM_CMD_MASK = 0x3E

FlashInput = Union[bytes, bytearray, str, Path, IntelHex]  # bytes, a HEX path, or an intelhex.IntelHex


def _core() -> Any:
    try:
        import yasimavr.lib.core as core
    except ImportError:  # pragma: no cover - depends on the machine
        raise SpareFlashError("the simulator needs yasimavr: pip install 'spareflash[sim]' (./dev setup)") from None
    return core


# -- device registry ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceSpec:
    """How to build one simulated part. Addresses are data-space addresses (None: looked up in the descriptor)."""

    mcu: str
    loader: Callable[[], Any]
    gpior0: int | None = None
    gpior1: int | None = None
    uart: str | None = "0"
    spmcsr: int | None = None
    after_reset: Callable[[Simulator], None] | None = None


_REGISTRY: dict[str, DeviceSpec] = {}
_LAZY_MODULES = ("spareflash.sim.tiny", "spareflash.sim.bigmega")


def register_device(mcu: str, loader: Callable[[], Any], *, gpior0: int | None = None, gpior1: int | None = None,
                    uart: str | None = "0", spmcsr: int | None = None,
                    after_reset: Callable[[Simulator], None] | None = None) -> None:
    """Make `mcu` available to Simulator. `loader()` returns a freshly built, uninitialised yasimavr device."""
    _REGISTRY[mcu.lower()] = DeviceSpec(mcu.lower(), loader, gpior0, gpior1, uart, spmcsr, after_reset)


def _import_lazy_devices() -> None:
    for name in _LAZY_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def registered_devices() -> list[str]:
    _import_lazy_devices()
    return sorted(_REGISTRY)


def device_spec(mcu: str) -> DeviceSpec:
    key = mcu.lower()
    if key not in _REGISTRY:
        _import_lazy_devices()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise SpareFlashError(f"no simulator model for {mcu} (have: {', '.join(sorted(_REGISTRY))})") from None


# -- YAML device configs (ours, patching yasimavr's) ----------------------------------------------------------

_DESCRIPTORS: dict[str, Any] = {}


def _chip_value(chip: Chip, what: str) -> Any:
    if what == "boot_sizes_unshifted":
        # yasimavr 0.1.6 indexes the table by (fuse & BOOTSZ mask), not by the BOOTSZ code: put each size at
        # code << shift, in units of flash pages; unused indexes get 0.
        fb = chip.fuse(chip.boot_fuse or "hfuse").field("BOOTSZ")
        table = [0] * ((3 << fb.shift) + 1)
        for bs in chip.boot_sizes:
            table[bs.code << fb.shift] = bs.size // chip.page_size
        return table
    if what == "nrww_pages":
        return (chip.nrww_start or chip.flash_size) // chip.page_size
    raise SpareFlashError(f"device config: unknown chip value @chip.{what}")


def apply_chip_facts(desc: Any, chip: Chip, *, boot_section: bool = False) -> Any:
    """Write the chip model's facts (memories, fuses, signature, programming times) into a yasimavr descriptor, so
    the device configs the project writes never hold a second copy of them."""
    from yasimavr.device_library.descriptors import DataSegmentDescriptor, MemorySpaceDescriptor

    desc.mem.spaces["flash"] = MemorySpaceDescriptor(chip.flash_size, chip.page_size)
    desc.mem.spaces["eeprom"] = MemorySpaceDescriptor(chip.eeprom_size, 1)
    desc.mem.spaces["ram"] = MemorySpaceDescriptor(chip.sram_size, 1)
    desc.mem.data_segments["ram"] = DataSegmentDescriptor(chip.sram_start, chip.ram_end)
    factory = chip.factory_fuses()
    desc.fuses["factory_values"] = [factory["lfuse"], factory["hfuse"], factory["efuse"]]
    desc.fuses["lock_byte"] = factory["lock"]
    desc.device_signature = list(chip.signature)
    if boot_section:
        fuses = desc.peripherals["FUSES"].config
        fuses["boot_sizes"] = _chip_value(chip, "boot_sizes_unshifted")
        fuses["nrww_start"] = _chip_value(chip, "nrww_pages")
    nvm = desc.peripherals["NVMCTRL"].config
    nvm["spm_erase_delay"] = int(round(chip.page_erase_ms * 1000))
    nvm["spm_write_delay"] = int(round(chip.page_write_ms * 1000))
    nvm["ee_erase_write_delay"] = int(round(chip.eeprom_write_ms * 1000))
    return desc


def _apply_patch(cfg: dict[str, Any], path: str, value: Any) -> None:
    node: Any = cfg
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if node is None:
            raise SpareFlashError(f"device config: cannot patch {path}")
    node[keys[-1]] = value


def device_descriptor(mcu: str, yaml_path: str | Path | None = None) -> Any:
    """The yasimavr DeviceDescriptor for one of our YAML configs (cached per process)."""
    import tempfile

    import yaml
    from yasimavr.device_library import descriptors

    path = Path(yaml_path) if yaml_path else DEVICES_DIR / f"{mcu}.yaml"
    key = str(path)
    if key in _DESCRIPTORS:
        return _DESCRIPTORS[key]
    ours = descriptors.load_config_file(str(path))
    if "base" in ours:
        base_file = descriptors._find_config_file(f"{ours['base']}.yml", descriptors.ConfigRepositories)
        if base_file is None:
            raise SpareFlashError(f"{path.name}: yasimavr has no device config {ours['base']}")
        cfg = descriptors.load_config_file(base_file)
        cfg.pop("aliasof", None)
        chip = get_chip(mcu)
        for dotted, value in (ours.get("patch") or {}).items():
            if isinstance(value, str) and value.startswith("@chip."):
                value = _chip_value(chip, value[len("@chip."):])
            _apply_patch(cfg, dotted, value)
        cfg["device_signature"] = list(ours.get("device_signature", cfg["device_signature"]))
    else:
        cfg = dict(ours)
    # a name of our own: yasimavr caches device builders by name, and must not hand ours to load_device(mcu)
    cfg["name"] = f"spareflash_{mcu}"
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        yaml.safe_dump(cfg, tmp)
    try:
        desc = descriptors.DeviceDescriptor.create_from_file(
            tmp.name, [str(path.parent), *descriptors.ConfigRepositories])
    finally:
        Path(tmp.name).unlink()
    desc._spareflash_builder = ours.get("builder")
    _DESCRIPTORS[key] = desc
    return desc


def load_yaml_device(mcu: str, yaml_path: str | Path | None = None) -> Any:
    """Build a yasimavr device from one of our YAML configs (see sim/devices/*.yaml)."""
    from yasimavr.device_library import load_device_from_config

    desc = device_descriptor(mcu, yaml_path)
    dev_class = None
    if desc._spareflash_builder:
        mod = importlib.import_module(f"yasimavr.device_library.builders.{desc._spareflash_builder}")
        dev_class = getattr(mod, desc._spareflash_builder)
    return load_device_from_config(desc, dev_class)


for _mcu in ("atmega328p", "atmega168p", "atmega88p"):
    register_device(_mcu, functools.partial(load_yaml_device, _mcu))


# -- results --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    cycle: int
    value: int


@dataclass
class PageOp:
    kind: str  # "erase" | "write"
    page: int  # byte address of the page
    start: int  # cycle the operation was started (SPMCSR write)
    end: int  # start + programming time in cycles (exclusive)
    before: bytes
    after: bytes

    def in_flight(self, cycle: int) -> bool:
        return self.start <= cycle < self.end


@dataclass
class RunResult:
    reason: str  # "sleep" | "budget" | "crash" | "marker"
    cycles: int
    message: str
    marker: Marker | None = None
    serial: bytes = b""
    debug: bytes = b""
    markers: list[Marker] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reason == "sleep"

    @property
    def serial_text(self) -> str:
        return self.serial.decode("latin-1")

    def raise_for_status(self) -> RunResult:
        """Raise SimulationError (one line) unless the firmware ended by sleeping with interrupts off."""
        if not self.ok:
            raise SimulationError(self.message)
        return self


# -- the simulator --------------------------------------------------------------------------------------------

_FMT_RE = re.compile(r"\s*[:=(]?\s*(?:0x)?%[-#0-9.]*[lhz]*[dxXsuc]\)?")


class _LogCapture:
    """Collects yasimavr's log lines (format strings only: the Python binding cannot expand C varargs)."""

    def __init__(self, on_line: Callable[[str], None] | None = None) -> None:
        core = _core()

        class Writer(core.LogWriter):  # type: ignore[misc, name-defined]
            def write(w_self, cycle: int, level: int, _id: Any, fmt: str, _args: Any) -> None:  # noqa: N805
                self.lines.append((int(cycle), int(level), str(fmt)))
                if on_line is not None:
                    on_line(str(fmt))

        self.lines: list[tuple[int, int, str]] = []
        self.writer = Writer()

    def errors(self) -> list[str]:
        out: list[str] = []
        for _cycle, level, fmt in self.lines:
            if level <= 3:  # Silent/Output/Error/Warning
                text = _FMT_RE.sub("", fmt).strip()
                if text and text not in out:
                    out.append(text)
        return out


# The model's crash reasons are passed as varargs, lost to Python; the error logged before names the cause.
_CRASH_CAUSES = (
    ("locked flash address", "Flash write refused"),
    ("SPM with disabled NVM controller", "SPM without a command"),
    ("SPM instruction but NVM controller busy", "SPM while the NVM controller is busy"),
    ("invalid flash address", "SPM address outside flash"),
    ("Invalid opcode", "invalid opcode"),
)


# Opcodes of the instructions that can set the I flag outside an interrupt return (AVR instruction set manual):
# SEI (= BSET 7), OUT 0x3F,Rr (1011 1AAr rrrr AAAA with A = 0x3F) and STS 0x005F,Rr (1001 001r rrrr 0000 + address).
_OP_SEI = 0x9478
_OP_OUT_SREG, _OP_OUT_SREG_MASK = 0xBE0F, 0xFE0F
_OP_STS, _OP_STS_MASK = 0x9200, 0xFE0F
_SREG_DATA_ADDR = 0x5F  # SREG's data-space address on every classic AVR
_SREG_I = 0x80


class _IrqEnableDelay:
    """Makes the model keep the datasheet rule "the instruction following SEI is executed before any pending
    interrupt" for SEI, OUT SREG and STS SREG (yasimavr 0.1.6 takes the interrupt at once after all three: its SEI
    starts the one-instruction inhibit on CLI instead, and SREG writes start none).

    yasimavr decides about an interrupt inside its C++ CPU loop and the binding exposes neither the CPU's inhibit
    counter nor a hook on SREG writes (OUT does not even reach the debug probe's watchpoints). What it does expose
    is the interrupt controller's state signal, raised when the CPU acknowledges a vector - before it pushes the
    return address. So an entry is checked when it happens: if the instruction just before the interrupted
    address is one of the three above (for OUT/STS: writing a value with I set), the entry came one instruction
    too early. A cycle timer due at the same cycle runs right after the CPU's step (the push, the jump to the
    vector and the vector's own jmp/rjmp) and undoes it: the bytes the push overwrote, SP, PC and I are restored,
    every raised vector is parked (cancelled in the controller, remembered here) and another timer raises them
    again after the next instruction has run. Python runs once per interrupt state change, never per cycle.

    Model differences left (docs/simulator.md, "Known gaps"): the cycle counter keeps the 2-3 cycles of the
    vector's jmp/rjmp that was executed and undone; during the one deferred instruction a parked vector's flag
    bit reads as the acknowledge left it (cleared for clear-on-acknowledge flags such as TOV0); the decision looks
    at the instruction *before* the interrupted address, so a jump landing right after an I-setting instruction
    while an interrupt is pending also gets the one-instruction delay.
    """

    def __init__(self, sim: Simulator) -> None:
        core = sim._core
        self.sim = sim
        self.deferred = 0
        self._ack = int(core.InterruptController.State.Acknowledged)
        self._cancelled = int(core.InterruptController.State.Cancelled)
        desc = getattr(sim.device, "_descriptor_", None)
        self._vectors = len(desc.interrupt_map.vectors) if desc is not None else 64
        self._pc_bytes = 3 if sim.chip.flash_size > 0x20000 else 2  # 22-bit PC: interrupts push three bytes
        self._undo: tuple[int, int, int, bytes] | None = None
        self._parked: set[int] = set()
        self._collect: set[int] | None = None
        self._fresh = False  # the deferred instruction has just run: the next acknowledge is on time
        ok, req = sim.device.ctlreq(core.IOCTL_INTR, core.CTLREQ_GET_SIGNAL)
        if not ok:
            raise SimulationError(f"{sim.mcu}: the model has no interrupt controller signal")
        self._signal = req.data.value(core.Signal)
        delay = self

        class Hook(core.SignalHook):  # type: ignore[misc, name-defined]
            def raised(h_self, sigdata: Any, _tag: int) -> None:  # noqa: N805
                delay._on_state(int(sigdata.data.as_uint()), int(sigdata.index))

        self._hook = Hook()
        self._signal.connect(self._hook)
        self._undo_timer = core.CallableCycleTimer(self._on_undo)
        self._reraise_timer = core.CallableCycleTimer(self._on_reraise)
        self._expire_timer = core.CallableCycleTimer(self._on_expire)

    def close(self) -> None:
        """Disconnect from the model (its C++ signal would otherwise keep this object and the Simulator alive)."""
        self._signal.disconnect(self._hook)
        self.sim = None  # type: ignore[assignment]

    def _on_state(self, state: int, vector: int) -> None:
        if state == self._ack:
            self._on_ack(vector)
        elif state == self._cancelled and self._collect is not None:
            self._collect.add(vector)

    def _on_ack(self, vector: int) -> None:
        sim = self.sim
        probe = sim.probe
        if self._fresh:
            # one instruction ran since the I-setting one. Without this, `sei; 1: rjmp 1b` would be deferred
            # forever: an entry at the loop's address always follows the SEI by address.
            self._fresh = False
            return
        pc = int(probe.read_pc())  # the interrupted address: the CPU has not pushed it yet
        if pc < 2 or not self._sets_i_before(pc):
            return
        sp = int(probe.read_sp())
        first = sp - self._pc_bytes + 1
        self._undo = (vector, pc, sp, bytes(probe.read_data(first, self._pc_bytes)))
        sim.loop.cycle_manager().schedule(self._undo_timer, sim.device.cycle())

    def _sets_i_before(self, pc: int) -> bool:
        flash = self.sim._flash_nvm
        word = int.from_bytes(bytes(flash.read(pc - 2, 2)), "little")
        if word == _OP_SEI:
            return True
        if word & _OP_OUT_SREG_MASK == _OP_OUT_SREG:
            return bool(self.sim.probe.read_gpreg((word >> 4) & 0x1F) & _SREG_I)
        if word == _SREG_DATA_ADDR and pc >= 4:
            sts = int.from_bytes(bytes(flash.read(pc - 4, 2)), "little")
            if sts & _OP_STS_MASK == _OP_STS:
                return bool(self.sim.probe.read_gpreg((sts >> 4) & 0x1F) & _SREG_I)
        return False

    def _on_undo(self, when: int) -> int:
        if self._undo is None:
            return 0
        sim, core = self.sim, self.sim._core
        probe = sim.probe
        vector, pc, sp, saved = self._undo
        self._undo = None
        probe.write_data(sp - self._pc_bytes + 1, saved)
        probe.write_sp(sp)
        probe.write_pc(pc)
        probe.write_sreg(int(probe.read_sreg()) | _SREG_I)
        # park every raised vector (the controller reports each one it cancels) until the next instruction ran
        self._collect = set()
        req = core.ctlreq_data_t()
        req.data = core.vardata_t(0)
        for v in range(1, self._vectors):
            req.index = v
            sim.device.ctlreq(core.IOCTL_INTR, core.CTLREQ_INTR_RAISE, req)
        self._parked |= self._collect | {vector}
        self._collect = None
        self.deferred += 1
        sim.loop.cycle_manager().schedule(self._reraise_timer, when + 1)
        return 0

    def _on_reraise(self, when: int) -> int:
        sim, core = self.sim, self.sim._core
        parked, self._parked = sorted(self._parked), set()
        req = core.ctlreq_data_t()
        req.data = core.vardata_t(1)
        for v in parked:
            req.index = v
            sim.device.ctlreq(core.IOCTL_INTR, core.CTLREQ_INTR_RAISE, req)
        # the CPU's next step may take one of them at once; after that step the normal check applies again
        self._fresh = True
        sim.loop.cycle_manager().schedule(self._expire_timer, int(sim.device.cycle()) + 1)
        return 0

    def _on_expire(self, when: int) -> int:
        self._fresh = False
        return 0


class Simulator:
    """One simulated chip running one firmware from power-on. See docs/simulator.md."""

    # the datasheet's one-instruction delay after SEI / OUT SREG / STS SREG (_IrqEnableDelay); False only to show
    # the raw model's behaviour (tests/test_sim_fidelity.py pins yasimavr's gap with it)
    irq_enable_delay: bool = True

    def __init__(self, firmware: FirmwareSource, mcu: str = "atmega328p", *, fuses: Mapping[str, int] | None = None,
                 flash_in: FlashInput | None = None, freq: int = 16_000_000, peripherals: Sequence[Any] = (),
                 strict_spm: bool = True) -> None:
        core = _core()
        self._core = core
        self.mcu = mcu.lower()
        self.spec = device_spec(self.mcu)
        self.chip: Chip = get_chip(self.mcu)
        self.firmware = load_firmware(firmware)
        if freq <= 0:
            raise SpareFlashError(f"bad clock frequency {freq}")
        self.freq = int(freq)
        self.fuses = self._effective_fuses(fuses)
        image = self._initial_flash(flash_in)

        self.device = dev = self.spec.loader()
        self.strict_spm = strict_spm
        self._log = _LogCapture(self._on_log)
        dev.log_handler().set_writer(self._log.writer)
        self.loop = core.SimLoop(dev)
        self.loop.set_fast_mode(True)  # never pace the simulation to wall-clock time
        # yasimavr marks erased flash "unprogrammed" and crashes an LPM there unless this option is set; silicon
        # reads 0xFF. The same option makes a refused SPM a silent no-op (as on silicon): with strict_spm the
        # harness turns the model's "locked flash address" error into a crash itself (_on_log).
        dev.set_option(core.Device.Option.IgnoreBadCpuLPM, True)
        # with this option the model stops on a SLEEP or an endless jump-to-itself loop with interrupts off
        # (both can never end); _result tells the two apart from the model's log
        dev.set_option(core.Device.Option.InfiniteLoopDetect, True)

        # yasimavr keeps a pointer to the block bytes: hold them for the simulator's lifetime
        self._image = bytes(image)
        self._fw = core.Firmware()
        self._blk = core.Firmware.block_view_t()
        self._blk.base = 0
        self._blk.bytes = self._image
        self._fw.add_block(core.Firmware.Area.Flash, self._blk)
        self._fw.frequency = self.freq
        dev.load_firmware(self._fw)
        self._flash_nvm = self._nvm(int(core.Core.NVM.Flash))
        # the whole array is written, so erased bytes read 0xFF like silicon (and LPM of them does not crash)
        self._flash_nvm.write(self._image, 0)
        self._write_fuses()

        self.probe = core.DeviceDebugProbe(dev)
        self.serial_bytes = bytearray()
        self.debug_bytes = bytearray()
        self.markers: list[Marker] = []
        self.page_ops: list[PageOp] = []
        self._pending_op: tuple[str, int, bytes, int] | None = None
        self._stop_marker: bool | int | None = None
        self._marker_hit: Marker | None = None
        self._saved_state: Any = None
        self._ended: RunResult | None = None
        self._powered = True
        self._install_hooks()

        self.peripherals = list(peripherals)
        for p in self.peripherals:
            p.attach(self)
        dev.reset(int(core.Device.ResetFlag.PowerOn))  # fuses and lock bits take effect only here
        if self.spec.after_reset:
            self.spec.after_reset(self)

    # -- set-up helpers -----------------------------------------------------------------------------------------

    def _effective_fuses(self, override: Mapping[str, int] | None) -> dict[str, int]:
        out = self.chip.factory_fuses()
        for src in (self.firmware.fuses, override or {}):
            for k, v in src.items():
                if k not in out:
                    raise SpareFlashError(f"{self.chip.name} has no fuse {k} (have: {', '.join(out)})")
                if not 0 <= int(v) <= 0xFF:
                    raise SpareFlashError(f"fuse {k}=0x{int(v):X} is not a byte")
                out[k] = int(v)
        return out

    def _initial_flash(self, flash_in: FlashInput | None) -> bytes:
        size = self.chip.flash_size
        if flash_in is None:
            data = self.firmware.flash
            what = "firmware"
        elif isinstance(flash_in, (bytes, bytearray)):
            if len(flash_in) != size:
                raise SpareFlashError(f"flash_in has {len(flash_in)} bytes, {self.chip.display} flash has {size}")
            data = bytes(flash_in)
            what = "flash_in"
        elif isinstance(flash_in, IntelHex):
            flash_in.padding = 0xFF
            data = bytes(flash_in.tobinarray(start=0, end=max(flash_in.maxaddr() or 0, 0)))
            what = "flash_in"
        else:
            data = read_hex(Path(flash_in))
            what = str(flash_in)
        if len(data) > size:
            raise SpareFlashError(f"{what}: {len(data)} bytes do not fit {self.chip.display}'s {size}-byte flash")
        return data + b"\xff" * (size - len(data))

    def _nvm(self, index: int) -> Any:
        core = self._core
        req = core.ctlreq_data_t()
        req.index = index
        ok, res = self.device.ctlreq(core.IOCTL_CORE, core.CTLREQ_CORE_NVM, req)
        if not ok:
            raise SimulationError(f"{self.mcu}: the model has no NVM #{index}")
        return res.data.value(core.NonVolatileMemory)

    def _write_fuses(self) -> None:
        import yasimavr.lib.arch_avr as arch

        fuse_nvm = self._nvm(int(self._core.Core.NVM.Fuses))
        n = fuse_nvm.size()
        self._fuse_bytes = bytes(self.fuses.get(name, 0xFF) for name in FUSE_ORDER[:n])
        fuse_nvm.write(self._fuse_bytes, 0)
        lock_nvm = self._nvm(int(arch.ArchAVR_Core.ArchAVR_NVM.Lockbit))
        self._lock_bytes = bytes([self.fuses.get("lock", 0xFF)])
        lock_nvm.write(self._lock_bytes, 0)

    def _reg(self, explicit: int | None, path: str) -> int | None:
        """I/O address of a register: from the spec (data-space address) or the device descriptor."""
        if explicit is not None:
            return explicit - IO_OFFSET
        desc = getattr(self.device, "_descriptor_", None)
        if desc is None:
            return None
        try:
            return int(desc.reg_address(path))
        except (ValueError, KeyError):
            return None

    def _install_hooks(self) -> None:
        core = self._core
        sim = self
        self._io_gpior0 = self._reg(self.spec.gpior0, "CPU/GPIOR0")
        self._io_gpior1 = self._reg(self.spec.gpior1, "CPU/GPIOR1")
        self._io_udr = self._reg(None, "USART/UDR") if self.spec.uart == "0" else None
        self._io_ucsrb = self._reg(None, "USART/UCSRB") if self.spec.uart == "0" else None
        self._io_spmcsr = self._reg(self.spec.spmcsr, "NVMCTRL/SPMCSR")
        self._io_rampz = self._reg(None, "CPU/RAMPZ")  # parts with >64 KB flash: SPM addresses are RAMPZ:Z

        class Hook(core.IORegHandler):  # type: ignore[misc, name-defined]
            def ioreg_write_handler(h_self, addr: Any, data: Any) -> None:  # noqa: N805
                sim._on_write(int(addr), int(data.value))

            def ioreg_read_handler(h_self, addr: Any, value: int) -> int:  # noqa: N805
                return value

        self._hook = Hook()
        for io in (self._io_gpior0, self._io_gpior1, self._io_udr, self._io_spmcsr):
            if io is not None:
                self.device.add_ioreg_handler(core.reg_addr_t(io), self._hook, core.bitmask_t(0xFF),
                                              core.IORegister.BitMode.RW)
        self._break_timer = core.CallableCycleTimer(self._on_budget)
        self._op_timer = core.CallableCycleTimer(self._on_op_started)
        if self.irq_enable_delay:
            self._irq_delay = _IrqEnableDelay(self)

    # -- hooks (called from inside the C++ loop) ----------------------------------------------------------------

    def _on_write(self, io: int, value: int) -> None:
        if io == self._io_gpior0:
            m = Marker(self.device.cycle(), value)
            self.markers.append(m)
            stop = self._stop_marker
            if stop is True or (stop is not None and stop is not False and stop == value):
                self._marker_hit = m
                self._break()
        elif io == self._io_gpior1:
            self.debug_bytes.append(value)
        elif io == self._io_udr:
            if self._io_ucsrb is None or self.probe.read_ioreg(self._core.reg_addr_t(self._io_ucsrb), False) & 0x08:
                self.serial_bytes.append(value)
        elif io == self._io_spmcsr:
            self._on_spmcsr(value)

    def _on_spmcsr(self, value: int) -> None:
        if not value & SPMEN or (value & SPM_CMD_MASK) not in (PGERS, PGWRT) or self._pending_op is not None:
            return
        now = self.device.cycle()
        if self.busy_op(now) is not None:
            return  # SPMCSR is locked while a page operation runs; the model ignores the write
        kind = "erase" if value & SPM_CMD_MASK == PGERS else "write"
        z = self.probe.read_gpreg(30) | (self.probe.read_gpreg(31) << 8)
        if self._io_rampz is not None:
            z |= self.probe.read_ioreg(self._core.reg_addr_t(self._io_rampz), False) << 16
        # the SPM follows within 4 cycles and yasimavr commits the page at once: compare a few cycles later
        self._pending_op = (kind, now, self.snapshot_flash(), z)
        self.loop.cycle_manager().schedule(self._op_timer, now + 8)

    def _on_op_started(self, when: int) -> int:
        self._finish_pending_op()
        return 0

    def _finish_pending_op(self) -> None:
        if self._pending_op is None:
            return
        kind, start, before_all, z = self._pending_op
        self._pending_op = None
        now_flash = self.snapshot_flash()
        page_size = self.chip.page_size
        changed = [a for a in range(0, len(now_flash), page_size)
                   if now_flash[a:a + page_size] != before_all[a:a + page_size]]
        if changed:
            page = changed[0]
        else:
            # nothing changed: either the SPM did not come (no operation) or it rewrote equal content
            spmcsr = self.probe.read_ioreg(self._core.reg_addr_t(self._io_spmcsr), False)
            if not spmcsr & SPMEN:
                return
            page = (z // page_size) * page_size
        ms = self.chip.page_erase_ms if kind == "erase" else self.chip.page_write_ms
        end = start + round(ms * self.freq / 1000)
        self.page_ops.append(PageOp(kind, page, start, end, before_all[page:page + page_size],
                                    now_flash[page:page + page_size]))

    @property
    def deferred_interrupts(self) -> int:
        """How many interrupt entries the harness moved one instruction later (see _IrqEnableDelay)."""
        delay = self.__dict__.get("_irq_delay")
        return int(delay.deferred if delay is not None else self.__dict__.get("_closed_deferred", 0))

    def _on_log(self, fmt: str) -> None:
        if self.strict_spm and "locked flash address" in fmt and self.device.state() != self._core.Device.State.Crashed:
            self.device.crash(int(self._core.CoreCrashCodes.Crash_Access_Refused.value), "Flash write refused")

    def _break(self) -> None:
        core = self._core
        self._saved_state = self.device.state()
        self.probe.set_device_state(core.Device.State.Break)

    def _on_budget(self, when: int) -> int:
        self._break()
        return 0

    # -- running ------------------------------------------------------------------------------------------------

    @property
    def cycle(self) -> int:
        return int(self.device.cycle())

    def run(self, max_cycles: int | None = None, *, stop_on_marker: bool | int | None = None) -> RunResult:
        """Run until sleep-with-interrupts-off, a crash, a stop marker or `max_cycles` more cycles."""
        if self._ended is not None:
            return self._ended
        if not self._powered:
            raise SimulationError("the simulated chip is powered off (power was cut)")
        core = self._core
        if max_cycles is not None and max_cycles < 0:
            raise SpareFlashError(f"negative cycle budget {max_cycles}")
        start = self.cycle
        self._marker_hit = None
        state = self.device.state()
        if state == core.Device.State.Break:
            self.probe.set_device_state(self._saved_state or core.Device.State.Running)
        if max_cycles == 0:
            return self._result(start, max_cycles)
        if stop_on_marker is None or stop_on_marker is False:
            # exact budget: yasimavr's loop stops on its own at the final cycle
            self._stop_marker = None
            self.loop.run(max_cycles or 0)
        else:
            # stopping inside the loop needs a Break; the budget then comes from a timer doing the same
            self._stop_marker = stop_on_marker
            if max_cycles:
                self.loop.cycle_manager().schedule(self._break_timer, start + max_cycles)
            try:
                self.loop.run(0)
            finally:
                self.loop.cycle_manager().cancel(self._break_timer)
                self._stop_marker = None
        return self._result(start, max_cycles)

    def run_until(self, cycle: int) -> RunResult:
        """Run to an absolute cycle count (reason "budget" when it gets there)."""
        return self.run(max(0, cycle - self.cycle))

    def _result(self, start: int, max_cycles: int | None) -> RunResult:
        core = self._core
        state = self.device.state()
        cyc = self.cycle
        marker = None
        if state == core.Device.State.Crashed:
            reason, message = "crash", self._crash_message()
        elif state == core.Device.State.Done and self._at_jump_to_self():
            # e.g. main() returned into avr-libc's "cli; rjmp ." or sleep_cpu() without sleep_enable()
            reason = "budget"
            message = (f"the firmware loops forever with interrupts off at cycle {cyc} (a run ends with "
                       "sleep_enable(); cli(); sleep_cpu();)")
        elif state == core.Device.State.Done:
            reason, message = "sleep", f"firmware slept with interrupts off at cycle {cyc}"
        elif state == core.Device.State.Break and self._marker_hit is not None:
            marker = self._marker_hit
            reason, message = "marker", f"stopped at marker {marker.value} (cycle {marker.cycle})"
        elif state == core.Device.State.Sleeping:
            # yasimavr fast-forwards a jump-to-itself loop as a "pseudo sleep"
            if self.device.sleep_mode() == core.SleepMode.Pseudo:
                what = "is stuck in an endless loop"
            else:
                what = "sleeps with interrupts enabled and nothing woke it"
            reason = "budget"
            message = f"the firmware {what} (cycle {cyc}{f', budget {max_cycles}' if max_cycles else ''})"
        else:
            reason = "budget"
            message = f"cycle budget of {max_cycles} cycles ran out at cycle {cyc} without the firmware ending"
        res = RunResult(reason, cyc, message, marker, bytes(self.serial_bytes), bytes(self.debug_bytes),
                        list(self.markers))
        if reason in ("sleep", "crash"):
            self._finish_pending_op()
            self._ended = res
        return res

    def _at_jump_to_self(self) -> bool:
        """True when the model stopped on an endless `rjmp .-2` (0xCFFF) rather than on a SLEEP."""
        pc = int(self.probe.read_pc())
        if not 2 <= pc <= self.chip.flash_size - 2:
            return False
        before, here = bytes(self._flash_nvm.read(pc - 2, 2)), bytes(self._flash_nvm.read(pc, 2))
        return before != b"\x88\x95" and here == b"\xff\xcf"  # not just after a SLEEP (0x9588)

    def _crash_message(self) -> str:
        errors = [e for e in self._log.errors() if not e.startswith("MCU crash") and not e.startswith("CPU crash")]
        cause = next((nice for key, nice in _CRASH_CAUSES for e in errors if key.lower() in e.lower()), None)
        pc_value = int(self.probe.read_pc())
        pc = f" at PC 0x{pc_value:04X}"
        if cause is None and pc_value >= self.chip.flash_size:
            cause = "the program counter ran past the end of flash (executing erased flash?)"
        head = cause or (errors[0] if errors else "the model gave no reason")
        detail = f" ({'; '.join(errors)})" if cause and errors else ""
        return f"crash{pc} (cycle {self.cycle}): {head}{detail}"

    # -- captured output ----------------------------------------------------------------------------------------

    @property
    def serial(self) -> bytes:
        return bytes(self.serial_bytes)

    @property
    def serial_text(self) -> str:
        return self.serial.decode("latin-1")

    @property
    def debug(self) -> bytes:
        return bytes(self.debug_bytes)

    def cycles_between(self, a: int, b: int) -> int:
        """Cycles from the first marker `a` to the first marker `b` after it."""
        for i, m in enumerate(self.markers):
            if m.value == a:
                for n in self.markers[i + 1:]:
                    if n.value == b:
                        return n.cycle - m.cycle
                break
        raise SimulationError(f"markers {a} then {b} were not both seen (saw {[m.value for m in self.markers]})")

    # -- UART receive -------------------------------------------------------------------------------------------

    def uart_send(self, data: bytes) -> None:
        """Queue `data` for the firmware to receive on UART0 (RX), through yasimavr's USART model
        (`CTLREQ_USART_BYTES`): the receiver must be enabled (RXEN0) and the bytes arrive at the baud rate the
        firmware set. Do not rely on the model buffering more than silicon does (two bytes): a host protocol
        should wait for the firmware's replies rather than stream."""
        if self.spec.uart != "0":
            raise SpareFlashError(f"{self.chip.display}: the simulator models no UART0 to send to")
        core = self._core
        req = core.ctlreq_data_t()
        req.data = core.vardata_t(bytes(data))
        ok, _ = self.device.ctlreq(core.IOCTL_UART("0"), core.CTLREQ_USART_BYTES, req)
        if not ok:
            raise SimulationError(f"{self.mcu}: the UART model refused the bytes")

    # -- flash --------------------------------------------------------------------------------------------------

    @property
    def flash(self) -> bytes:
        closed: bytes | None = self.__dict__.get("_closed_flash")
        if closed is not None:
            return closed
        return bytes(self._flash_nvm.view())

    # The yasimavr device holds the harness's I/O hook, timers and log writer, which hold the Simulator: a
    # reference cycle through C++ that Python's GC cannot see, so an unclosed Simulator (~270 KB) lives until the
    # process ends — 1 GB over a 3,000-cut campaign. close() breaks the cycle; the final flash, serial output and
    # markers stay readable.
    _MODEL_REFS = ("loop", "probe", "_flash_nvm", "device", "_hook", "_break_timer", "_op_timer", "_log", "_fw",
                   "_blk", "_irq_delay")

    def close(self) -> None:
        """Free the simulated chip (the run's results and final flash stay readable). Idempotent."""
        if "_closed_flash" in self.__dict__:
            return
        self._closed_flash = self.flash
        self._closed_deferred = self.deferred_interrupts
        delay = self.__dict__.get("_irq_delay")
        if delay is not None:
            delay.close()
        for name in self._MODEL_REFS:
            self.__dict__.pop(name, None)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def snapshot_flash(self) -> bytes:
        return bytes(self._flash_nvm.view())

    def restore_flash(self, image: bytes) -> None:
        if len(image) != self.chip.flash_size:
            raise SpareFlashError(f"flash image has {len(image)} bytes, expected {self.chip.flash_size}")
        self._keep = bytes(image)
        self._flash_nvm.write(self._keep, 0)

    def write_flash_hex(self, path: str | Path) -> None:
        write_hex(self.flash, path)

    def busy_op(self, cycle: int | None = None) -> PageOp | None:
        """The page erase/write in flight at `cycle` (default: now), or None."""
        if cycle is None:
            self._finish_pending_op()
            cycle = self.cycle
        if self.page_ops and self.page_ops[-1].in_flight(cycle):
            return self.page_ops[-1]
        return None

    def cut_power(self, seed: int = 0) -> Any:
        """Cut the power now: tear the page operation in flight (if any) and stop the chip for good."""
        from .powercut import PowerCutResult, tear

        if not self._powered:
            raise SimulationError("power was already cut")
        self._finish_pending_op()
        cyc = self.cycle
        op = self.busy_op(cyc) if self._ended is None else None
        torn = None
        if op is not None:
            torn = tear(op, random.Random(seed))
            flash = bytearray(self.flash)
            flash[op.page:op.page + len(torn)] = torn
            self.restore_flash(bytes(flash))
        self._powered = False
        for p in self.peripherals:
            hook = getattr(p, "on_power_off", None)
            if hook is not None:
                hook(self)
        result = self._ended or RunResult("budget", cyc, f"power cut at cycle {cyc}", None, self.serial,
                                          self.debug, list(self.markers))
        return PowerCutResult(flash=self.flash, op=op, torn_page=op.page if op else None,
                              reason="cut" if self._ended is None else self._ended.reason, cycle=cyc,
                              result=result, seed=seed)


def run_firmware(firmware: FirmwareSource, mcu: str = "atmega328p", max_cycles: int | None = 100_000_000,
                 **kwargs: Any) -> tuple[Simulator, RunResult]:
    """Convenience: build a Simulator and run it once."""
    sim = Simulator(firmware, mcu, **kwargs)
    return sim, sim.run(max_cycles)


def iter_markers(markers: Iterable[Marker], value: int) -> list[int]:
    """Cycles of every marker with `value`."""
    return [m.cycle for m in markers if m.value == value]
