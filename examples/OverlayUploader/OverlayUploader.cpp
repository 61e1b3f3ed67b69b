// OverlayUploader: writes overlays.bin into the SPI NOR chip of an ATmega328P board over Serial, for
// `spareflash overlay upload overlays.bin --port PORT [--baud 115200]` (builder/spareflash/overlay/upload.py).
// Flash it, upload the image, then flash the real firmware (the NOR chip keeps the image).
//
// Framed protocol (all integers little-endian; CRC-16/XMODEM = poly 0x1021, init 0, over cmd..data):
//   host -> board:  0x7E, cmd, addr (3 bytes), len (2 bytes, <= 256), data[len], crc (2 bytes)
//   board -> host:  0x7E, status, echo (2 bytes: the request's crc field as received), len (2 bytes), data[len],
//                   crc (2 bytes, over status..data); the echo lets the host drop a late reply to an earlier frame
//   cmd 'I': JEDEC id (3 bytes back)      'E': erase the 4 KB sector at addr
//   cmd 'W': program data at addr (inside one 256-byte NOR page), then read it back and compare
//   cmd 'R': read n bytes at addr (data: n as 2 bytes, n <= 256)
//   status 0 ok, 1 frame CRC error (host resends), 2 bad frame (command, length, page crossing),
//          3 read-back differs after a program, 4 no NOR chip
// A frame whose bytes stop arriving for ~50 ms is dropped (the board waits for the next 0x7E), so a lost byte
// costs one retry instead of a desynchronised stream. The board answers every complete frame exactly once, and
// only after it finished the command: the host waits, so the two-byte RX buffer never overruns.
#include <SpiNor.h>
#include <avr/io.h>
#include <util/crc16.h>

#define BAUD 115200UL
#define SOF 0x7E
#define ST_OK 0
#define ST_CRC 1
#define ST_FRAME 2
#define ST_VERIFY 3
#define ST_NOR 4
#define MAX_DATA 256

static SpiNor nor;
static uint8_t buf[MAX_DATA];  // frame data, then the reply data
static uint16_t echo;          // the crc field of the frame being answered

static void uart_begin() {
  UBRR0 = (F_CPU / 8 / BAUD) - 1;  // U2X: 2.1% error at 16 MHz / 115200 instead of 3.5%
  UCSR0A = 1 << U2X0;
  UCSR0B = (1 << TXEN0) | (1 << RXEN0);
}

static void tx(uint8_t b) {
  while (!(UCSR0A & (1 << UDRE0))) {
  }
  UDR0 = b;
}

// One byte, or -1 after ~50 ms of silence (inter-byte timeout; a frame is one burst from the host).
static int16_t rx_timeout() {
  for (uint32_t n = F_CPU / 200; n; n--) {  // ~10 cycles a turn
    if (UCSR0A & (1 << RXC0)) return UDR0;
  }
  return -1;
}

static uint8_t rx_wait() {
  while (!(UCSR0A & (1 << RXC0))) {
  }
  return UDR0;
}

static void reply(uint8_t status, uint16_t len) {
  uint16_t crc = _crc_xmodem_update(0, status);
  tx(SOF);
  tx(status);
  crc = _crc_xmodem_update(crc, (uint8_t)echo);
  tx((uint8_t)echo);
  crc = _crc_xmodem_update(crc, (uint8_t)(echo >> 8));
  tx((uint8_t)(echo >> 8));
  crc = _crc_xmodem_update(crc, (uint8_t)len);
  tx((uint8_t)len);
  crc = _crc_xmodem_update(crc, (uint8_t)(len >> 8));
  tx((uint8_t)(len >> 8));
  for (uint16_t i = 0; i < len; i++) {
    crc = _crc_xmodem_update(crc, buf[i]);
    tx(buf[i]);
  }
  tx((uint8_t)crc);
  tx((uint8_t)(crc >> 8));
}

// Receives the rest of a frame after SOF. Returns the status to answer with, or 0xFF: frame dropped (timeout).
static uint8_t receive(uint8_t &cmd, uint32_t &addr, uint16_t &len) {
  uint8_t head[6];
  uint16_t crc = 0;
  for (uint8_t i = 0; i < 6; i++) {
    int16_t c = rx_timeout();
    if (c < 0) return 0xFF;
    head[i] = (uint8_t)c;
    crc = _crc_xmodem_update(crc, head[i]);
  }
  cmd = head[0];
  addr = head[1] | ((uint32_t)head[2] << 8) | ((uint32_t)head[3] << 16);
  len = head[4] | (head[5] << 8);
  if (len > MAX_DATA) return 0xFF;  // a corrupted length: do not wait for bytes that will never come
  for (uint16_t i = 0; i < len; i++) {
    int16_t c = rx_timeout();
    if (c < 0) return 0xFF;
    buf[i] = (uint8_t)c;
    crc = _crc_xmodem_update(crc, buf[i]);
  }
  int16_t lo = rx_timeout(), hi = lo < 0 ? -1 : rx_timeout();
  if (hi < 0) return 0xFF;
  echo = (uint16_t)(lo | (hi << 8));
  if (echo != crc) return ST_CRC;
  return ST_OK;
}

int main() {
  uart_begin();
  bool chip = nor.begin() == SF_OK;
  for (;;) {
    if (rx_wait() != SOF) continue;
    uint8_t cmd;
    uint32_t addr;
    uint16_t len;
    uint8_t st = receive(cmd, addr, len);
    if (st == 0xFF) continue;
    if (st != ST_OK) {
      reply(st, 0);
      continue;
    }
    if (!chip && cmd != 'I') {
      reply(ST_NOR, 0);
      continue;
    }
    uint16_t out = 0;
    switch (cmd) {
      case 'I':
        chip = nor.begin() == SF_OK;
        for (uint8_t i = 0; i < 3; i++) buf[i] = nor.jedec[i];
        out = 3;
        st = chip ? ST_OK : ST_NOR;
        break;
      case 'E':
        if (addr & 0xFFF) {
          st = ST_FRAME;
          break;
        }
        nor.eraseSector(addr);
        break;
      case 'W': {
        if (nor.programPage(addr, buf, len) != SF_OK) {
          st = ST_FRAME;  // crosses a 256-byte NOR page
          break;
        }
        // read back: compare with the frame's data (the NOR only turns 1s into 0s: an unerased page shows here)
        nor.readStart(addr);
        for (uint16_t i = 0; i < len; i++)
          if (nor.readNext() != buf[i]) st = ST_VERIFY;
        nor.readEnd();
        break;
      }
      case 'R': {
        uint16_t n = len == 2 ? (uint16_t)(buf[0] | (buf[1] << 8)) : 0xFFFF;
        if (n > MAX_DATA) {
          st = ST_FRAME;
          break;
        }
        nor.read(addr, buf, n);
        out = n;
        break;
      }
      default:
        st = ST_FRAME;
    }
    reply(st, out);
  }
}
