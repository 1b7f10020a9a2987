"""Unit scorecards: self-assessment, evidence, appraisal rounds, explanations, survey points and
corrections for one unit in one cycle."""
