"""Policy replay: re-run the engines over stored decisions' inputs with a candidate policy."""
