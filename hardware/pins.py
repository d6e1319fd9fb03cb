"""Facts about the Raspberry Pi's 40-pin header, in BCM numbering.

Everything here is data: which BCM GPIO sits on which header pin, which pins the
Pi reserves for buses, and how each pin is pulled at reset.
"""

from __future__ import annotations

from typing import Final, Literal

Pull = Literal["up", "down"]

#: BCM GPIO number -> physical pin on the 40-pin header (J8).
HEADER_PIN: Final[dict[int, int]] = {
    0: 27, 1: 28, 2: 3, 3: 5, 4: 7, 5: 29, 6: 31, 7: 26, 8: 24, 9: 21,
    10: 19, 11: 23, 12: 32, 13: 33, 14: 8, 15: 10, 16: 36, 17: 11, 18: 12, 19: 35,
    20: 38, 21: 40, 22: 15, 23: 16, 24: 18, 25: 22, 26: 37, 27: 13,
}  # fmt: skip

#: Pins that belong to a bus or to the HAT identification EEPROM, and why.
RESERVED: Final[dict[int, str]] = {
    0: "the HAT ID EEPROM (ID_SD)",
    1: "the HAT ID EEPROM (ID_SC)",
    2: "I2C (SDA1)",
    3: "I2C (SCL1)",
    7: "SPI0 (CE1)",
    8: "SPI0 (CE0)",
    9: "SPI0 (MISO)",
    10: "SPI0 (MOSI)",
    11: "SPI0 (SCLK)",
    14: "the serial console UART (TXD)",
    15: "the serial console UART (RXD)",
}


def reset_pull(bcm: int) -> Pull:
    """How the SoC pulls a pin at reset: GPIO 0-8 up, 9-27 down (BCM2835 datasheet).

    The Pi 5 (RP1) defaults have not been verified; see docs/wiring.md.
    """
    return "up" if bcm <= 8 else "down"


def header_pin(bcm: int) -> int:
    """The physical header pin of a BCM GPIO number (``KeyError`` if it has none)."""
    return HEADER_PIN[bcm]
