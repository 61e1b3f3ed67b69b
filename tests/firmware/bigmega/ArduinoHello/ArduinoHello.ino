// Arduino-core hello for the ATmega2560 / ATmega32U4 simulator models (tests/test_sim_bigmega.py).
// Runs the real core's init() (Timers 0-5, ADC set-up), millis()/delay() on Timer0 and HardwareSerial.
// On a Leonardo `Serial` is USB CDC (not modelled, and the core's USB start-up must get past the PLL lock);
// the text goes out on Serial1 (USART1), which the harness captures.
#include <avr/sleep.h>

#if defined(USBCON)
#define OUT Serial1
#else
#define OUT Serial
#endif

void setup()
{
    OUT.begin(115200);
    unsigned long t0 = millis();
    delay(5);
    unsigned long waited = millis() - t0;
    OUT.print(F("Arduino hello, delay(5) took "));
    OUT.print(waited);
    OUT.println(F(" ms"));
    OUT.flush();
    GPIOR0 = 9;
    cli();
    sleep_enable();
    sleep_cpu();
}

void loop()
{
}
