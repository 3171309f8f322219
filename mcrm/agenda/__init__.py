"""Agenda items (日志任务): staff appointments and tasks with SMS reminders, confirmations and escalation."""
