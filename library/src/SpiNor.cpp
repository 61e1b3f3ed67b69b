// SPI NOR driver: see SpiNor.h for the wiring. Datasheet reference: Winbond W25Q32JV (commands 0x9F, 0x03,
// 0x05, 0x06, 0x02, 0x20).
#include "SpiNor.h"

#include <avr/io.h>

#if defined(USICR) && defined(PORTA)
// ATtiny24/44/84: the USI sits on PORTA; PB3 is the RESET pin there, so CS moves to PA3
#define SF_NOR_CS_PORT PORTA
#define SF_NOR_CS_DDR DDRA
#define SF_NOR_CS_BIT PA3
#define SF_NOR_USI_PORT PORTA
#define SF_NOR_USI_DDR DDRA
#define SF_NOR_USCK PA4
#define SF_NOR_DO PA5
#define SF_NOR_DI PA6
#elif defined(USICR)
// ATtiny25/45/85: USI, three-wire mode, software clock strobe
#define SF_NOR_CS_PORT PORTB
#define SF_NOR_CS_DDR DDRB
#define SF_NOR_CS_BIT PB3
#define SF_NOR_USI_PORT PORTB
#define SF_NOR_USI_DDR DDRB
#define SF_NOR_USCK PB2
#define SF_NOR_DO PB1
#define SF_NOR_DI PB0
#elif defined(SPCR)
#define SF_NOR_CS_PORT PORTB
#define SF_NOR_CS_DDR DDRB
#define SF_NOR_CS_BIT PB2
#else
#error "SpiNor: this part has neither a hardware SPI nor a USI"
#endif

static const uint8_t kRead = 0x03, kJedec = 0x9F, kStatus = 0x05, kWriteEnable = 0x06, kProgram = 0x02,
                     kSectorErase = 0x20;

uint8_t SpiNor::transfer(uint8_t b) {
#if defined(USICR)
  // Each USICR write with USITC toggles USCK; with USICLK the second (rising) edge also shifts USIDR. Sixteen
  // writes clock one byte out on DO and in from DI (SPI mode 0, MSB first).
  USIDR = b;
  const uint8_t lo = (1 << USIWM0) | (1 << USICS1) | (1 << USITC);
  const uint8_t hi = (1 << USIWM0) | (1 << USICS1) | (1 << USITC) | (1 << USICLK);
  // unrolled: 16 back-to-back `out`s clock the byte at F_CPU / 2 (a loop would add 3 cycles a bit)
  USICR = lo; USICR = hi; USICR = lo; USICR = hi; USICR = lo; USICR = hi; USICR = lo; USICR = hi;
  USICR = lo; USICR = hi; USICR = lo; USICR = hi; USICR = lo; USICR = hi; USICR = lo; USICR = hi;
  return USIDR;
#else
  SPDR = b;
  while (!(SPSR & (1 << SPIF))) {
  }
  return SPDR;
#endif
}

void SpiNor::select() { SF_NOR_CS_PORT &= ~(1 << SF_NOR_CS_BIT); }

void SpiNor::end() { SF_NOR_CS_PORT |= (1 << SF_NOR_CS_BIT); }

void SpiNor::command(uint8_t cmd, uint32_t addr) {
  select();
  transfer(cmd);
  transfer((uint8_t)(addr >> 16));
  transfer((uint8_t)(addr >> 8));
  transfer((uint8_t)addr);
}

sf_status_t SpiNor::begin(uint32_t expectedId) {
  SF_NOR_CS_PORT |= (1 << SF_NOR_CS_BIT);  // CS high before it becomes an output: no spurious select
  SF_NOR_CS_DDR |= (1 << SF_NOR_CS_BIT);
#if defined(USICR)
  SF_NOR_USI_DDR |= (1 << SF_NOR_USCK) | (1 << SF_NOR_DO);  // USCK, DO out; DI in
  SF_NOR_USI_DDR &= ~(1 << SF_NOR_DI);
  SF_NOR_USI_PORT &= ~(1 << SF_NOR_USCK);  // mode 0: clock idles low
#else
  DDRB |= (1 << PB5) | (1 << PB3);  // SCK, MOSI out (SS = CS is already an output, so SPI stays master)
  DDRB &= ~(1 << PB4);
  SPCR = (1 << SPE) | (1 << MSTR);
  SPSR = (1 << SPI2X);  // F_CPU / 2
#endif
  select();
  transfer(kJedec);
  for (uint8_t i = 0; i < 3; i++) jedec[i] = transfer(0xFF);
  end();
  uint8_t all = jedec[0] & jedec[1] & jedec[2], any = jedec[0] | jedec[1] | jedec[2];
  if (all == 0xFF || any == 0) return SF_ERR_NOR;  // floating MISO or no chip
  if (expectedId && jedecId() != expectedId) return SF_ERR_NOR;
  return SF_OK;
}

void SpiNor::readStart(uint32_t addr) {
  command(kRead, addr);
#if !defined(USICR)
  SPDR = 0xFF;  // the first data byte shifts in while the caller gets ready (see readNext)
#endif
}

#if !defined(USICR)
void SpiNor::readEnd() {
  while (!(SPSR & (1 << SPIF))) {  // the byte read ahead: let it finish, clear SPIF
  }
  (void)SPDR;
  end();
}
#endif

void SpiNor::read(uint32_t addr, void *dst, uint16_t n) {
  uint8_t *p = (uint8_t *)dst;
  readStart(addr);
  while (n--) *p++ = readNext();
  readEnd();
}

void SpiNor::waitReady() {
  select();
  transfer(kStatus);
  while (transfer(0xFF) & 0x01) {
  }
  end();
}

sf_status_t SpiNor::programPage(uint32_t addr, const void *src, uint16_t n) {
  if (n == 0) return SF_OK;
  if (n > 256 || ((addr & 0xFF) + n) > 256) return SF_ERR_ARG;
  waitReady();
  select();
  transfer(kWriteEnable);
  end();
  command(kProgram, addr);
  const uint8_t *p = (const uint8_t *)src;
  for (uint16_t i = 0; i < n; i++) transfer(p[i]);
  end();
  waitReady();
  return SF_OK;
}

sf_status_t SpiNor::eraseSector(uint32_t addr) {
  waitReady();
  select();
  transfer(kWriteEnable);
  end();
  command(kSectorErase, addr);
  end();
  waitReady();
  return SF_OK;
}
