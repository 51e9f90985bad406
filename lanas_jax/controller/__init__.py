"""Controller-based search on supernets: the LSTM token controller (:mod:`.lstm`), ENAS
(:mod:`.enas`) and NASES (:mod:`.nases`), sharing :mod:`.shared`'s weight phase and reward."""
