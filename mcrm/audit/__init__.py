"""The audit log: who did what to the merchant's data, shown to the owner."""
