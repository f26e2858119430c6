"""Operations that span the workflows: HistoryCleanup (history_cleanup), the daily purge of finished instances."""
