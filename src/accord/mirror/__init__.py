"""Party mirrors: a party's own verified replica of the log, and what it can prove from it."""
