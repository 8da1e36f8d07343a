"""Generative blueprints: autoencoders (`reconstruction`), VAEs, GANs and diffusion models (`generation`)."""

from blueprints.generative import autoencoder, diffusion, gan, vae  # noqa: F401  (imported to register)
