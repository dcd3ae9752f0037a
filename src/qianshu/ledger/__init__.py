"""Double-entry books in integer fen: accounts, transfers, statements, trial balance."""
