"""E-mail connector: candidate mail over SMTP with iCalendar (iMIP) invitations, updates and cancellations."""
