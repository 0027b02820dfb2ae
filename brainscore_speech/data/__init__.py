"""Data stage: audio, BIDS/fMRIPrep BOLD, atlases, simulated studies, manifests."""
