"""Run the command language of the C++ host driver (tests/host/driver.cpp) on the Python model.

One command a line, one result line each; the same script fed to the C++ build must give the same lines.
    B                begin (remount, RAM state lost)      P k HEX     put             G k n    get
    Z k              size of key                          R k         remove          C k      contains
    F                format                               S           stats + erase count per page
    LB policy        log begin                            LA HEX      log append      LL       log records
    LC               log clear                            ER a n      EEPROM read     EW a HEX EEPROM write
    W HEX            load raw bytes into the regions      D           dump the regions (hex)

`fmt=2` runs format 2's twin (StorageModelV2, docs/storage-format-v2.md) on the storage region: no log or
EEPROM commands, and S prints the stats without per-page erase counts (format 2's API has no eraseCount()).
"""

from __future__ import annotations

from .eeprom import EEPROMModel
from .flash import FlashEmu
from .log import LogModel
from .store import ERR_NO_REGION, OK, StorageModel
from .store_v2 import StorageModelV2


class ModelRunner:
    def __init__(self, page_size: int, storage_pages: int, log_pages: int, single_write: bool = False,
                 fmt: int = 1) -> None:
        if fmt not in (1, 2) or (fmt == 2 and (log_pages or single_write)):
            raise ValueError(f"no format {fmt} model with a log of {log_pages} pages / single_write={single_write}")
        self.fmt = fmt
        self.page_size = page_size
        self.sp, self.lp = storage_pages, log_pages
        self.data = bytearray(b"\xff" * (page_size * (storage_pages + log_pages)))
        self.single_write = single_write
        self.storage_flash = FlashEmu(page_size, storage_pages)
        self.log_flash = FlashEmu(page_size, max(log_pages, 1))
        self.store: StorageModel | StorageModelV2 | None = None
        self.log: LogModel | None = None
        self.eeprom: EEPROMModel | None = None

    def _eeprom(self) -> EEPROMModel:
        if self.eeprom is None:
            self.eeprom = EEPROMModel(StorageModel(self.storage_flash, single_write=self.single_write))
        return self.eeprom

    def _store(self) -> StorageModel | StorageModelV2:
        if self.store is None:
            raise RuntimeError("storage used before B")
        return self.store

    def run(self, line: str) -> str:
        parts = line.split()
        cmd, args = parts[0], parts[1:]
        if self.fmt == 2 and cmd in ("LB", "LA", "LL", "LC", "ER", "EW"):
            raise ValueError(f"format 2 has no log or EEPROM: {cmd}")
        if cmd == "B" and self.fmt == 2:
            self.store = StorageModelV2(self.storage_flash)
            return str(OK if self.store.n else ERR_NO_REGION)
        if cmd == "B":
            if self.sp < 2:
                return str(ERR_NO_REGION)
            self.store = StorageModel(self.storage_flash, single_write=self.single_write)
            return str(OK)
        if cmd == "P":
            return str(self._store().put(int(args[0]), bytes.fromhex(args[1]) if len(args) > 1 else b""))
        if cmd == "G":
            st, val = self._store().get(int(args[0]), int(args[1]))
            return f"{st} " + (val.hex() if st == OK and val is not None else "")
        if cmd == "Z":
            st, val = self._store().get(int(args[0]))
            return str(len(val) if st == OK and val is not None else 0)
        if cmd == "R":
            return str(self._store().remove(int(args[0])))
        if cmd == "C":
            return "1" if self._store().contains(int(args[0])) else "0"
        if cmd == "F":
            return str(self._store().format())
        if cmd == "S":
            s = self._store().stats()
            counts = s.erase_counts if self.fmt == 1 else []
            return " ".join(str(x) for x in (OK, s.pages, s.page_size, s.live_bytes, s.live_records, s.free_bytes,
                                              s.min_erase, s.max_erase, s.remaining_writes, *counts))
        if cmd == "LB":
            if self.lp < 1:
                return str(ERR_NO_REGION)
            self.log = LogModel(self.log_flash, policy=int(args[0]), single_write=self.single_write)
            return str(OK)
        if cmd == "LA":
            assert self.log is not None
            return str(self.log.append(bytes.fromhex(args[0])))
        if cmd == "LL":
            assert self.log is not None
            recs = self.log.records()
            return " ".join([str(len(recs)), *(r.hex() for r in recs)])
        if cmd == "LC":
            assert self.log is not None
            return str(self.log.clear())
        if cmd == "ER":
            return self._eeprom().read(int(args[0]), int(args[1])).hex()
        if cmd == "EW":
            return str(self._eeprom().write(int(args[0]), bytes.fromhex(args[1])))
        if cmd == "W":
            raw = bytes.fromhex(args[0])
            n = len(self.storage_flash.data)
            self.storage_flash.data[:len(raw[:n])] = raw[:n]
            rest = raw[n:]
            self.log_flash.data[:len(rest)] = rest
            return "0"
        if cmd == "D":
            log = bytes(self.log_flash.data) if self.lp else b""
            return (bytes(self.storage_flash.data) + log).hex()
        raise ValueError(f"unknown command {cmd}")
