"""Plots and animations (matplotlib, Agg backend: files only, no window)."""
import matplotlib

matplotlib.use("Agg")
