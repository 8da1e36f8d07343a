"""Generative blueprints: autoencoders (`reconstruction`), VAEs, GANs and diffusion models (`generation`)."""

from blueprints.generative import autoencoder, gan, vae  # noqa: F401  (imported to register)
