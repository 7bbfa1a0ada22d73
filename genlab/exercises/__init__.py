"""One home per graded exercise: hints, concept questions (and, per lab, the exercise entries)."""
