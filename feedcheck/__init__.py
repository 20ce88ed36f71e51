"""feedcheck: does Crypto Lake + our own Binance capture support a faithful order-book rebuild?"""

__version__ = "0.1.0"
