"""Fees and cashless payment: tariff versions, invoices, payments, receipts, reconciliation."""
