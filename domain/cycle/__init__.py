"""Assessment cycles: one province's year, its groups, units, appraisers, phases and deadlines."""
