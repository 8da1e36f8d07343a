"""The datasets shipped inside kerakit (in `kerakit/data/bundled/`), so that a fresh machine needs no network.

Each entry of `BUNDLED` returns `(x, y, source)`: NumPy arrays and one line citing where the data came from. Each
entry of `BUNDLED_TEXT` returns `(text, source)`: a str and its citation line.
"""

import gzip
import pathlib

import numpy as np

BUNDLED_DIR = pathlib.Path(__file__).parent / "bundled"

DIGITS_SOURCE = (
    "UCI Optical Recognition of Handwritten Digits: E. Alpaydin and C. Kaynak (1998), "
    "https://doi.org/10.24432/C50P49, CC BY 4.0 (the copy scikit-learn ships)"
)


def digits():
    """The UCI optical digits: 1,797 images of shape (8, 8, 1) in [0, 1] (float32) and labels 0..9 (int32).

    Example:

    ```python
    from kerakit.data._bundled import digits
    x, y, source = digits()
    x.shape, y.max()  # (1797, 8, 8, 1), 9
    ```
    """
    table = np.loadtxt(BUNDLED_DIR / "digits.csv.gz", delimiter=",", dtype=np.int32)
    x = (table[:, :64].reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)  # pixels count 0..16 "on" bits
    return x, table[:, 64], DIGITS_SOURCE


TEXT_SOURCE = (
    "William Shakespeare, Coriolanus (c. 1605-1608; public domain), Act I to Act V, Scene 1: the first 127,991 characters "
    "of Andrej Karpathy's tiny Shakespeare (https://github.com/karpathy/char-rnn, data/tinyshakespeare/input.txt)"
)


def text():
    """A short public-domain English text: 127,991 characters of Shakespeare's Coriolanus (speaker names and lines).

    Example:

    ```python
    from kerakit.data._bundled import text
    shakespeare, source = text()
    len(shakespeare), shakespeare[:14]  # 127991, 'First Citizen:'
    ```
    """
    with gzip.open(BUNDLED_DIR / "text.txt.gz", "rb") as file:
        return file.read().decode("utf-8"), TEXT_SOURCE


BUNDLED = {"digits": digits}
BUNDLED_TEXT = {"text": text}
